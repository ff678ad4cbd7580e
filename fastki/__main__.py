"""python -m fastki info | bench | scale (fastki/_cli.py)"""
import sys

from ._cli import main

sys.exit(main())
