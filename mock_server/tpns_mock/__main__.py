import sys

from tpns_mock.cli import main

sys.exit(main())
