from dglsp.cli.main import main

raise SystemExit(main())
