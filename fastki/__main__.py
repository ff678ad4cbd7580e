"""python -m fastki info | bench"""
import sys

from ._cli import main

sys.exit(main())
