# The Python the module is built for and tested with. Debian's numpy, pandas and pytest belong to
# /usr/bin/python3, and another python3 (pyenv, conda) may come first on PATH: prefer Debian's
# unless the caller chose one (-DPython3_EXECUTABLE=...). Also used for scripts/embed_web.py.
if(NOT Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
  set(Python3_EXECUTABLE /usr/bin/python3 CACHE FILEPATH "Python interpreter (module, tests, build scripts)")
endif()
