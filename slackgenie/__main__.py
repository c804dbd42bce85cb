from slackgenie.cli import main

raise SystemExit(main())
