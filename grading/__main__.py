from .course import main

raise SystemExit(main())
