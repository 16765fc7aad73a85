import sys

from tracker_utils.run.cli import main

sys.exit(main())
