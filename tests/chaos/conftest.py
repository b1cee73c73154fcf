import sys, pathlib
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
from stack import *  # noqa: F401,F403
