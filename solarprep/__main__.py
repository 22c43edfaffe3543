from solarprep.cli import main

raise SystemExit(main())
