"""Which files the package ships: every `chatbot` package with its data files, and the
repository's top-level `static/` folder as `chatbot/static`, so that an installed server finds
its widget, dashboard scripts and API docs page without a checkout (see chatbot/static_files.py).

Everything else about the package (name, dependencies, commands) is in setup.cfg.
"""

from setuptools import find_namespace_packages, setup

# Namespace discovery, because the templates and Alembic's migration scripts are folders of
# data without an __init__.py that must still ship.
PACKAGES = find_namespace_packages(include=["chatbot", "chatbot.*"], exclude=["*.__pycache__"])
STATIC = find_namespace_packages(include=["static", "static.*"], exclude=["*.__pycache__"])

setup(
    packages=PACKAGES + [f"chatbot.{name}" for name in STATIC],
    package_dir={"chatbot.static": "static"},
    package_data={"": ["*.html", "*.json", "*.mako", "*.js", "*.css", "py.typed"]},
)
