#!/bin/sh
# Removes from an image's venv what no image runs, after `uv sync`: the test suites that wheels
# ship (scipy, pandas, statsmodels, numpy), type stubs and C/Cython sources (only compilers read
# them), and Swagger's editor and source maps (the API serves swagger-ui-bundle.js, swagger-ui.css
# and the favicon only: services/serving/routers/docs.py). Usage: slim-venv.sh VENV
set -eu
site=$(echo "$1"/lib/python3*/site-packages)
find "$site" -depth -type d -name tests -exec rm -rf {} +
find "$site" -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.c' \
  -o -name '*.cpp' -o -name '*.h' -o -name '*.js.map' -o -name '*.css.map' \) -delete
rm -f "$site"/swagger_ui/static/swagger-editor*
