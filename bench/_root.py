"""Put the checkout's root on sys.path, so a benchmark run as `python bench/NAME.py` imports the
sandbox/ package (which is not installed with the service)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
