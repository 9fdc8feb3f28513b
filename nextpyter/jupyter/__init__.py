"""What runs inside a user's Jupyter server: the identity provider that trusts only the
gateway (identity.py), the server's configuration (config.py), JupyterLab's setting
defaults (lab_settings/), and the constants they share with the sidecar (upstream.py).

It imports nothing of NextPyter's but itself, and ``jupyter_server`` only inside the
server: the docker backend copies this folder as it is into every container.
"""

# The configuration file, relative to the folder that holds the ``nextpyter`` package.
CONFIG_FILE = "nextpyter/jupyter/config.py"
