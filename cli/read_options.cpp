#include "read_options.h"

#include <iostream>

#include "lmm/error.h"

namespace lmm::cli {

void add_read_options(CLI::App* cmd, ReadArgs& args) {
  cmd->add_option("--na-values", args.na_values,
                  "extra missing-value codes, comma-separated, e.g. \"N/A,-99\" (write --na-values=-99 for one "
                  "negative code); N/A, NULL, na, - and #N/A are read as missing in numeric columns anyway");
  cmd->add_option("--sep", args.sep, "field separator: , ; tab or | (default: by extension, else detected)");
  cmd->add_option("--decimal", args.decimal,
                  "decimal mark: . or , (default: '.', and ',' too in a file separated by ';')");
}

namespace {

ReadOptions to_options(const ReadArgs& a) {
  ReadOptions o;
  if (a.sep == "tab" || a.sep == "\\t" || a.sep == "\t")
    o.delimiter = '\t';
  else if (a.sep == "," || a.sep == ";" || a.sep == "|")
    o.delimiter = a.sep[0];
  else if (!a.sep.empty())
    throw Error("--sep must be ',', ';', 'tab' or '|', got '" + a.sep + "'");
  if (a.decimal == "." || a.decimal == ",")
    o.decimal = a.decimal[0];
  else if (!a.decimal.empty())
    throw Error("--decimal must be '.' or ',', got '" + a.decimal + "'");
  if (o.decimal == ',' && o.delimiter == ',')
    throw Error("--decimal ',' needs another field separator (--sep ';')");
  std::string code;
  for (char ch : a.na_values + ",") {
    if (ch != ',') {
      code += ch;
      continue;
    }
    if (!code.empty()) o.na_values.push_back(code);
    code.clear();
  }
  return o;
}

}  // namespace

ReadOptions read_options(const ReadArgs& args) { return to_options(args); }

DataFrame read_data(const std::string& path, const ReadArgs& args, bool print_notes) {
  DataFrame data = read_table(path, to_options(args));
  if (print_notes)
    for (const std::string& note : reading_notes(data)) std::cerr << "lmm: " << note << '\n';
  return data;
}

}  // namespace lmm::cli
