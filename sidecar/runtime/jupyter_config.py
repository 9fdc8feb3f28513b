# Jupyter server configuration for servers started by NextPyter (loaded with --config).
# The gateway adds the server's token to every request it forwards, so the browser
# never needs it: take it out of the page JupyterLab renders.
import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821
# Read the token here and take it out of the environment, so kernels (user code) do not
# inherit it.
c.IdentityProvider.token = os.environ.pop("JUPYTER_TOKEN", "")


def _without_token(handler, page_config):  # type: ignore[no-untyped-def]
    page_config["token"] = ""
    return page_config


c.ServerApp.tornado_settings = {"page_config_hook": _without_token}
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
