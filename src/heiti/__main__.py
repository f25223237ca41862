from heiti.cli import main

raise SystemExit(main())
