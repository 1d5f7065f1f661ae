from rustyclaw.cli import main

raise SystemExit(main())
