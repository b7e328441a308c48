from ._mnv2 import Model as Model
from ._mnv2 import __version__ as __version__
from ._mnv2 import bench as bench
from ._mnv2 import cache_dir as cache_dir
from ._mnv2 import detect_isa as detect_isa
from ._mnv2 import fetch as fetch

__all__ = ["Model", "bench", "cache_dir", "detect_isa", "fetch", "__version__"]
