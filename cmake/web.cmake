# The report's and explorer's pages: Vega, Vega-Lite and vega-embed come from the npm registry
# (versions pinned in web/package-lock.json, installed by `npm ci`) and are inlined into the pages,
# which scripts/embed_web.py compiles into `lmm`. Sets LMM_WEB_SOURCE (the generated .cpp).
find_package(Python3 REQUIRED COMPONENTS Interpreter)
set(LMM_WEB_DIR ${CMAKE_CURRENT_SOURCE_DIR}/web)
set(LMM_WEB_VENDOR
  ${LMM_WEB_DIR}/node_modules/vega/build/vega.min.js
  ${LMM_WEB_DIR}/node_modules/vega-lite/build/vega-lite.min.js
  ${LMM_WEB_DIR}/node_modules/vega-embed/build/vega-embed.min.js)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${LMM_WEB_DIR}/package-lock.json)

# `npm ci` when node_modules is missing or was installed from another package-lock.json.
file(SHA256 ${LMM_WEB_DIR}/package-lock.json lmm_web_lock_hash)
set(lmm_web_stamp ${LMM_WEB_DIR}/node_modules/.lmm-package-lock.sha256)
set(lmm_web_installed "")
if(EXISTS ${lmm_web_stamp})
  file(READ ${lmm_web_stamp} lmm_web_installed)
endif()
if(NOT lmm_web_installed STREQUAL lmm_web_lock_hash)
  find_program(LMM_NPM npm)
  if(NOT LMM_NPM)
    message(FATAL_ERROR "lmm's HTML report needs Vega-Lite from npm, and npm was not found: run scripts/install-deps "
                        "(or install Node.js and npm), then configure again")
  endif()
  message(STATUS "web/: npm ci (Vega-Lite for the report, Playwright for the browser tests)")
  execute_process(COMMAND ${LMM_NPM} ci --no-audit --no-fund --loglevel=error
                  WORKING_DIRECTORY ${LMM_WEB_DIR} RESULT_VARIABLE lmm_npm_rc)
  if(NOT lmm_npm_rc EQUAL 0)
    message(FATAL_ERROR "`npm ci` in ${LMM_WEB_DIR} failed (exit ${lmm_npm_rc}): the npm registry must be reachable")
  endif()
  file(WRITE ${lmm_web_stamp} ${lmm_web_lock_hash})
endif()
foreach(f ${LMM_WEB_VENDOR})
  if(NOT EXISTS ${f})
    message(FATAL_ERROR "${f} is missing after `npm ci`: delete web/node_modules and configure again")
  endif()
endforeach()

file(GLOB LMM_WEB_PAGES CONFIGURE_DEPENDS ${LMM_WEB_DIR}/src/*)
set(LMM_WEB_SOURCE ${CMAKE_CURRENT_BINARY_DIR}/generated/web_assets.cpp)
add_custom_command(
  OUTPUT ${LMM_WEB_SOURCE}
  COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/scripts/embed_web.py ${LMM_WEB_DIR} ${LMM_WEB_SOURCE}
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/scripts/embed_web.py ${LMM_WEB_PAGES} ${LMM_WEB_VENDOR}
  COMMENT "Inlining Vega-Lite into the report and explorer pages"
  VERBATIM)
