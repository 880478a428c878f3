import sys

from qfocus.cli import main

sys.exit(main())
