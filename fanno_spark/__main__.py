import sys

if len(sys.argv) > 1 and sys.argv[1] == "compare":  # `python -m fanno_spark compare --experiment NAME`
    from .compare import main as compare_main

    sys.exit(compare_main(sys.argv[2:]))
if len(sys.argv) > 1 and sys.argv[1] == "sweep":  # `python -m fanno_spark sweep --grid key=v1,v2 ...`
    from .sweep import main as sweep_main

    sys.exit(sweep_main(sys.argv[2:]))

from .cli import main  # noqa: E402

sys.exit(main())
