"""An instructor's server on the class hub.

JupyterLab shows nbgrader's Formgrader in an <iframe> of this same server. Since JupyterHub 4.1,
jupyterhub-singleuser sends `Content-Security-Policy: frame-ancestors 'none'` unless the server sets
its own header, so the browser refuses to draw the frame: the Formgrader panel stays blank (nbgrader
#1870, #1910, #1919). Allowing frames from the hub's own origin only ('self') draws it again while
other sites still cannot frame the instructor's server. Students' servers keep JupyterHub's 'none'.
"""
c = get_config()  # noqa: F821

c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
