"""evalcov: how well does your eval set represent the traffic your users send?"""

__version__ = "0.1.0"
