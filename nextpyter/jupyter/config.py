# Jupyter server configuration for servers started by NextPyter (loaded with --config).
import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821
# Only requests the gateway forwards (with its secret header) are the owner's; see
# identity.py. No Jupyter token exists, so none can leak.
c.ServerApp.identity_provider_class = "nextpyter.jupyter.identity.GatewayIdentityProvider"
# The only client is the gateway, over the unix socket; the Host header is the gateway's.
c.ServerApp.allow_remote_access = True

c.ServerApp.open_browser = False
c.ServerApp.quit_button = False
# Only the gateway talks to the server (over its unix socket); no cross-origin callers.
c.ServerApp.allow_origin = ""
c.ServerApp.disable_check_xsrf = False
c.LabApp.news_url = None
# Setting defaults for JupyterLab (no news or update pop-up: the server has no internet
# access to speak of, and the user did not ask for it).
c.LabApp.app_settings_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab_settings")
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
