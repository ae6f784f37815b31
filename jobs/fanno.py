"""spark-submit entry point: `spark-submit jobs/fanno.py --config conf/local.yaml [...]`.

Thin on purpose: everything lives in the fanno_spark package (installed, or shipped with --py-files).
"""

import sys
from pathlib import Path

try:
    import fanno_spark  # noqa: F401
except ImportError:  # running from a source checkout without `pip install`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fanno_spark.cli import main
from fanno_spark.sweep import main as sweep_main

if __name__ == "__main__":  # `spark-submit jobs/fanno.py sweep --grid ...` runs a sweep
    sys.exit(sweep_main(sys.argv[2:]) if sys.argv[1:2] == ["sweep"] else main())
