// The reader's handling of everyday data quirks (library level): identifiers' text, missing-value
// codes, decimal commas, a column of numbers with a few text cells, likely undeclared codes, and the
// one number parser shared by the reader and reshaping.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "io/number_text.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/reshape.h"

namespace {

using lmm::DataFrame;
using lmm::ReadOptions;

DataFrame read(const std::string& text, ReadOptions o = {}) {
  if (!o.delimiter) o.delimiter = ',';
  return lmm::parse_table(text, o, "q.csv");
}

TEST(NumberText, OutOfRangeIsInfinityOrZeroInTheReaderAndInReshape) {
  double v = 0;
  ASSERT_TRUE(lmm::detail::parse_number("1e400", v));
  EXPECT_EQ(v, std::numeric_limits<double>::infinity());
  ASSERT_TRUE(lmm::detail::parse_number("-1e400", v));
  EXPECT_EQ(v, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(read("v\n1e400\n").at("v").numbers[0], std::numeric_limits<double>::infinity());
  // Reshaping reads the times in column names with the same parser: 1e400 is a number there too
  // (it used to make the time column categorical).
  const DataFrame wide = read("id,y_1,y_1e400\na,1,2\nb,3,4\n");
  lmm::WideToLongOptions o;
  o.id = "id";
  o.patterns = {lmm::parse_wide_pattern("y_*")};
  const DataFrame lg = lmm::wide_to_long(wide, o);
  const lmm::Column& time = lg.at("time");
  ASSERT_TRUE(time.is_numeric());
  EXPECT_EQ(time.numbers[0], 1.0);
  EXPECT_EQ(time.numbers[1], std::numeric_limits<double>::infinity());
}

TEST(NumberText, PlainDecimals) {
  for (const char* s : {"0", "12", "-3", "0.5", "2.25", "-0.125", "123456789012345"})
    EXPECT_TRUE(lmm::detail::is_plain_decimal(s)) << s;
  for (const char* s : {"01", "3.0", "+1", "1e3", ".5", "5.", "-0", "inf", "1234567890123456", "0.50"})
    EXPECT_FALSE(lmm::detail::is_plain_decimal(s)) << s;
}

TEST(ReaderQuirks, NumericIdsKeepTheirText) {
  const DataFrame d = read("id,x\n01,1\n1,2\n001,3\n3.0,4\n3,5\nNA,6\n");
  const lmm::Column& id = d.at("id");
  ASSERT_TRUE(id.is_numeric());
  ASSERT_TRUE(id.has_text());
  EXPECT_EQ(id.text_levels, (std::vector<std::string>{"001", "01", "1", "3", "3.0"}));
  EXPECT_EQ(id.text_codes, (std::vector<std::int32_t>{1, 2, 0, 4, 3, -1}));
  EXPECT_FALSE(d.at("x").has_text());  // plain decimals: the numbers say it all
}

TEST(ReaderQuirks, GroupingFactorsAreCategoricalByText) {
  std::string text = "id,time,y\n";
  const char* ids[] = {"01", "1", "001", "2", "02", "3.0", "3"};
  for (int p = 0; p < 7; ++p)
    for (int t = 0; t < 3; ++t)
      text += std::string(ids[p]) + "," + std::to_string(t) + "," + std::to_string(p % 3 + 2 * t + (p * t) % 2) + "\n";
  const auto f = lmm::fit(read(text), "y ~ time + (1 | id)");
  ASSERT_EQ(f.result.ngroups.size(), 1u);
  EXPECT_EQ(f.result.ngroups[0].levels, 7u);
  // Levels in byte order of the text, as R's factor() of ids read as text.
  EXPECT_EQ(f.model.frame().re[0].levels, (std::vector<std::string>{"001", "01", "02", "1", "2", "3", "3.0"}));
}

TEST(ReaderQuirks, CommonCodesAreMissingInNumericColumnsOnly) {
  const DataFrame d = read("x,g\n1,a\nN/A,N/A\nNULL,b\n-,c\n#N/A,d\n2,e\n");
  const lmm::Column& x = d.at("x");
  ASSERT_TRUE(x.is_numeric());
  EXPECT_EQ(x.numbers[0], 1.0);
  for (std::size_t r = 1; r < 5; ++r) EXPECT_TRUE(x.missing(r)) << r;
  EXPECT_EQ(x.read.missing_codes.size(), 4u);
  const lmm::Column& g = d.at("g");  // a text column keeps "N/A" as a level
  ASSERT_FALSE(g.is_numeric());
  EXPECT_EQ(g.levels[static_cast<std::size_t>(g.codes[1])], "N/A");
  const auto notes = lmm::reading_notes(d, {"x"});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], "'x': 4 cells read as missing (1 'N/A', 1 'NULL', 1 '-', 1 '#N/A')");
}

TEST(ReaderQuirks, DeclaredCodesAreMissingEverywhere) {
  ReadOptions o;
  o.na_values = {"-99", "unknown"};
  const DataFrame d = read("x,g\n1,a\n-99,unknown\n-99.0,b\n3,c\n", o);
  const lmm::Column& x = d.at("x");
  ASSERT_TRUE(x.is_numeric());
  EXPECT_TRUE(x.missing(1));
  EXPECT_TRUE(x.missing(2));  // the number -99 written another way
  EXPECT_EQ(x.numbers[3], 3.0);
  EXPECT_TRUE(d.at("g").missing(1));
  EXPECT_EQ(d.at("g").levels, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(ReaderQuirks, SemicolonFilesWithDecimalCommas) {
  ReadOptions o;
  o.delimiter = ';';
  const DataFrame d = lmm::parse_table("y;x\n3,5;1\n-0,25;2\n4;1,5\n", o, "excel.csv");
  ASSERT_TRUE(d.at("y").is_numeric());
  EXPECT_EQ(d.at("y").numbers, (std::vector<double>{3.5, -0.25, 4}));
  EXPECT_EQ(d.at("x").numbers, (std::vector<double>{1, 2, 1.5}));
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_NE(d.notes[0].find("3 numbers like '3,5' read as 3.5"), std::string::npos) << d.notes[0];
  o.decimal = '.';  // declared: no decimal commas
  EXPECT_FALSE(lmm::parse_table("y;x\n3,5;1\n-0,25;2\n4;1,5\n", o, "excel.csv").at("y").is_numeric());
  o.delimiter = ',';
  o.decimal = ',';
  EXPECT_THROW(lmm::parse_table("y\n1\n", o, "excel.csv"), lmm::Error);
}

TEST(ReaderQuirks, AFewTextCellsInNumbersAreAnErrorNamingColumnRowAndText) {
  std::string text = "id,y,x\n";
  for (int r = 0; r < 20; ++r)
    text += std::to_string(r % 5) + "," + std::to_string(r * 1.5) + "," + (r == 7 ? "missing" : std::to_string(r % 4)) + "\n";
  const DataFrame d = read(text);
  const lmm::Column& x = d.at("x");
  ASSERT_FALSE(x.is_numeric());
  EXPECT_EQ(x.read.number_cells, 19u);
  EXPECT_EQ(x.read.text_cells, 1u);
  EXPECT_EQ(x.read.first_text_row, 8u);
  EXPECT_EQ(x.read.first_text_line, 9u);
  try {
    lmm::fit(d, "y ~ x + (1 | id)");
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("column 'x'"), std::string::npos) << m;
    EXPECT_NE(m.find("'missing' in data row 8 (line 9 of q.csv, counting the header)"), std::string::npos) << m;
    EXPECT_NE(m.find("na_values"), std::string::npos) << m;
  }
  // A genuine text column is categorical, with no error.
  const DataFrame g = read("g,y\na,1\nb,2\nc,3\n4,4\n");
  EXPECT_EQ(lmm::detail::mixed_column_problem(g.at("g"), g.source), "");
}

TEST(ReaderQuirks, LikelySentinelGetsAWarningAndStaysAValue) {
  std::string text = "y\n";
  for (int r = 0; r < 10; ++r) text += (r == 4 ? std::string("-99") : std::to_string(200 + r * 10)) + "\n";
  const DataFrame d = read(text);
  EXPECT_EQ(d.at("y").numbers[4], -99.0);
  EXPECT_NE(d.at("y").read.sentinel_warning.find("'y' has 1 cell -99, far from its other values (200 to 290)"),
            std::string::npos)
      << d.at("y").read.sentinel_warning;
  // -9 inside the range of the other values is not flagged.
  EXPECT_EQ(read("t\n-20\n-9\n0\n5\n10\n30\n").at("t").read.sentinel_warning, "");
}

}  // namespace
