#include <iostream>

#include "commands.h"
#include "lmm/atomic_file.h"
#include "lmm/table_io.h"

namespace lmm::cli {

void write_table_output(const DataFrame& table, const std::string& path) {
  if (path.empty()) {
    write_csv(table, std::cout);
    std::cout.flush();
    return;
  }
  write_file_atomically(path, [&table](std::ostream& os) { write_csv(table, os); });
}

}  // namespace lmm::cli
