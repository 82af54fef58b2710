import sys

from pocketshop.cli import main

sys.exit(main())
