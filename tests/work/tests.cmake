# Conditional computation really skips work: callgrind instruction counts vs --stats.
add_test(NAME work.skip_work COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/run_skip_work.py
         --xfc $<TARGET_FILE:xfc>)
set_tests_properties(work.skip_work PROPERTIES LABELS numeric TIMEOUT 900)
