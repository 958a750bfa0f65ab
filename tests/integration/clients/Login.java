// Log in with MariaDB Connector/J and print CURRENT_USER(); exit 1 with the error.
//   java -cp mariadb-java-client.jar Login.java
// Endpoint from MATRIX_HOST, MATRIX_PORT, MATRIX_CA, MATRIX_USER, MATRIX_PASSWORD.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;

public class Login {
    public static void main(String[] args) {
        String url = "jdbc:mariadb://" + System.getenv("MATRIX_HOST") + ":"
            + System.getenv("MATRIX_PORT") + "/?useSsl=true&serverSslCert="
            + System.getenv("MATRIX_CA") + "&connectTimeout=10000&socketTimeout=20000";
        try (Connection conn = DriverManager.getConnection(
                url, System.getenv("MATRIX_USER"), System.getenv("MATRIX_PASSWORD"));
             ResultSet rs = conn.createStatement().executeQuery("SELECT CURRENT_USER()")) {
            rs.next();
            System.out.println(rs.getString(1));
        } catch (Exception e) {
            System.err.println(e);
            System.exit(1);
        }
    }
}
