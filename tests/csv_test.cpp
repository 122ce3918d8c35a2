// Tests for the CSV/TSV reader (src/io/csv.cpp) and the DataFrame accessors.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lmm/data.h"
#include "lmm/error.h"
#include "test_util.h"

namespace {

using lmm::Column;
using lmm::DataFrame;
using lmm::parse_table;
using lmm::read_table;

std::string data_path(const std::string& name) { return std::string(LMM_TEST_DATA) + "/" + name; }

using lmm::testing::error_of;

#define EXPECT_ERROR(stmt, substring)                                                 \
  do {                                                                                \
    std::string msg_ = error_of([&] { (void)(stmt); });                               \
    EXPECT_NE(msg_.find(substring), std::string::npos) << "message: '" << msg_ << "'"; \
    EXPECT_EQ(msg_.find('\n'), std::string::npos) << "message is not one line: " << msg_; \
  } while (0)

// A file in a fresh temporary directory, removed with the fixture.
class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("lmm_csv_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  std::filesystem::path dir_;
};

// ---- reference data ----

TEST(ReadTable, Sleepstudy) {
  DataFrame df = read_table(data_path("sleepstudy.csv"));
  EXPECT_EQ(df.nrows, 180u);
  ASSERT_EQ(df.names(), (std::vector<std::string>{"Subject", "Days", "Reaction"}));
  const Column& subject = df.at("Subject");
  ASSERT_TRUE(subject.is_numeric());  // "308" is quoted but is a number, as in R's read.csv
  EXPECT_EQ(subject.size(), 180u);
  EXPECT_EQ(subject.numbers[0], 308.0);
  EXPECT_EQ(subject.numbers[179], 372.0);
  const Column& days = df.at("Days");
  ASSERT_TRUE(days.is_numeric());
  EXPECT_EQ(days.numbers[0], 0.0);
  EXPECT_EQ(days.numbers[9], 9.0);
  const Column& reaction = df.at("Reaction");
  ASSERT_TRUE(reaction.is_numeric());
  EXPECT_DOUBLE_EQ(reaction.numbers[0], 249.56);
  EXPECT_DOUBLE_EQ(reaction.numbers[1], 258.7047);
  for (std::size_t i = 0; i < df.nrows; ++i) EXPECT_FALSE(reaction.missing(i));
  EXPECT_EQ(df.source, data_path("sleepstudy.csv"));
}

TEST(ReadTable, Growth200) {
  DataFrame df = read_table(data_path("growth200.csv"));
  EXPECT_EQ(df.nrows, 1000u);
  ASSERT_EQ(df.names(), (std::vector<std::string>{"id", "time", "group", "y"}));

  const Column& group = df.at("group");
  ASSERT_FALSE(group.is_numeric());
  EXPECT_EQ(group.levels, (std::vector<std::string>{"control", "treatment"}));
  ASSERT_EQ(group.codes.size(), 1000u);
  EXPECT_EQ(group.codes[0], 0);  // "control"
  std::size_t treated = 0;
  for (auto c : group.codes) treated += c == 1;
  EXPECT_EQ(treated, 500u);

  const Column& id = df.at("id");
  ASSERT_FALSE(id.is_numeric());
  EXPECT_EQ(id.levels.size(), 200u);
  EXPECT_EQ(id.levels.front(), "P001");
  EXPECT_EQ(id.levels[id.codes[0]], "P001");

  const Column& y = df.at("y");
  ASSERT_TRUE(y.is_numeric());
  std::size_t missing = 0;
  for (std::size_t i = 0; i < df.nrows; ++i) missing += y.missing(i);
  EXPECT_EQ(missing, 92u);
  EXPECT_DOUBLE_EQ(y.numbers[0], 40.493);
  EXPECT_TRUE(std::isnan(y.numbers[999]));  // the last line ends in NA
}

TEST(ReadTable, AllReferenceFilesRead) {
  for (const char* name : {"cake.csv", "dyestuff2.csv", "pastes.csv", "penicillin.csv", "sleepstudy_missing.csv"}) {
    DataFrame df = read_table(data_path(name));
    EXPECT_GT(df.nrows, 0u) << name;
    for (const Column& c : df.columns) EXPECT_EQ(c.size(), df.nrows) << name << " " << c.name;
  }
  DataFrame cake = read_table(data_path("cake.csv"));
  EXPECT_EQ(cake.nrows, 270u);
  EXPECT_EQ(cake.at("recipe").levels, (std::vector<std::string>{"A", "B", "C"}));
  EXPECT_TRUE(cake.at("temp").is_numeric());
  DataFrame missing = read_table(data_path("sleepstudy_missing.csv"));
  std::size_t na = 0;
  for (std::size_t i = 0; i < missing.nrows; ++i) na += missing.at("Reaction").missing(i);
  EXPECT_EQ(na, 20u);
}

// ---- parse_table: syntax ----

TEST(ParseTable, Basic) {
  DataFrame df = parse_table("a,b\n1,x\n2,y\n", ',');
  EXPECT_EQ(df.nrows, 2u);
  EXPECT_EQ(df.source, "<text>");
  ASSERT_EQ(df.columns.size(), 2u);
  EXPECT_EQ(df.columns[0].numbers, (std::vector<double>{1, 2}));
  EXPECT_EQ(df.columns[1].levels, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(df.columns[1].codes, (std::vector<std::int32_t>{0, 1}));
}

TEST(ParseTable, Quoting) {
  DataFrame df = parse_table(
      "\"name\",\"text\",n\n"
      "\"a,b\",\"say \"\"hi\"\"\",1\n"
      "\"line1\nline2\",\"\",2\n"
      "plain,\"\"\"\",3\n",
      ',');
  EXPECT_EQ(df.nrows, 3u);
  EXPECT_EQ(df.names(), (std::vector<std::string>{"name", "text", "n"}));
  const Column& name = df.at("name");
  ASSERT_FALSE(name.is_numeric());
  EXPECT_EQ(name.levels[name.codes[0]], "a,b");
  EXPECT_EQ(name.levels[name.codes[1]], "line1\nline2");
  EXPECT_EQ(name.levels[name.codes[2]], "plain");
  const Column& text = df.at("text");
  EXPECT_EQ(text.levels[text.codes[0]], "say \"hi\"");
  EXPECT_TRUE(text.missing(1));  // "" is an empty field
  EXPECT_EQ(text.levels[text.codes[2]], "\"");
  EXPECT_EQ(df.at("n").numbers, (std::vector<double>{1, 2, 3}));
}

TEST(ParseTable, RecordLineNumbersCountNewlinesInQuotes) {
  // The ragged record starts on line 4: line 2 holds a field spanning two lines.
  EXPECT_ERROR(parse_table("a,b\n\"x\ny\",1\n1\n", ','), "line 4 has 1 field, the header has 2");
}

TEST(ParseTable, CrlfLineEndings) {
  DataFrame df = parse_table("a,b\r\n1,x\r\n2,\"y\"\r\n\r\n", ',');
  EXPECT_EQ(df.nrows, 2u);
  EXPECT_EQ(df.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(df.at("a").numbers, (std::vector<double>{1, 2}));
  EXPECT_EQ(df.at("b").levels, (std::vector<std::string>{"x", "y"}));
  // A quoted field keeps its CRLF inside.
  DataFrame q = parse_table("a\r\n\"u\r\nv\"\r\n", ',');
  EXPECT_EQ(q.at("a").levels, (std::vector<std::string>{"u\r\nv"}));
  // Old Mac CR-only line endings.
  DataFrame mac = parse_table("a,b\r1,2\r3,4\r", ',');
  EXPECT_EQ(mac.nrows, 2u);
  EXPECT_EQ(mac.at("b").numbers, (std::vector<double>{2, 4}));
}

TEST(ParseTable, Bom) {
  DataFrame df = parse_table("\xEF\xBB\xBFx,y\n1,2\n", ',');
  EXPECT_EQ(df.names(), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(df.at("x").numbers, (std::vector<double>{1}));
}

TEST(ParseTable, TrailingNewlinesAndBlankLines) {
  EXPECT_EQ(parse_table("a\n1\n2", ',').nrows, 2u);
  EXPECT_EQ(parse_table("a\n1\n2\n", ',').nrows, 2u);
  EXPECT_EQ(parse_table("a\n1\n2\n\n\n  \n", ',').nrows, 2u);
  EXPECT_EQ(parse_table("a,b\n1,2\n\n3,4\n", ',').nrows, 2u);  // R skips blank lines too
}

TEST(ParseTable, HeaderOnly) {
  DataFrame df = parse_table("a,b,c\n", ',');
  EXPECT_EQ(df.nrows, 0u);
  ASSERT_EQ(df.columns.size(), 3u);
  EXPECT_TRUE(df.columns[0].is_numeric());
  EXPECT_EQ(df.columns[0].size(), 0u);
  EXPECT_EQ(parse_table("a,b,c", ',').nrows, 0u);
}

TEST(ParseTable, Tsv) {
  DataFrame df = parse_table("a\tb c\n1\tx, y\n2\tz\n", '\t');
  EXPECT_EQ(df.names(), (std::vector<std::string>{"a", "b c"}));
  EXPECT_EQ(df.at("b c").levels, (std::vector<std::string>{"x, y", "z"}));
}

TEST(ParseTable, TrailingDelimiterMakesAnEmptyField) {
  DataFrame df = parse_table("a,b\n1,\n", ',');
  EXPECT_TRUE(df.at("b").missing(0));
}

TEST(ParseTable, SniffsTheDelimiter) {
  EXPECT_EQ(parse_table("a\tb\n1\t2\n", 0).columns.size(), 2u);
  EXPECT_EQ(parse_table("a,b,c\n1,2,3\n", 0).columns.size(), 3u);
  DataFrame semi = parse_table("a;b\n1,5;2\n", 0);
  ASSERT_EQ(semi.columns.size(), 2u);
  // A ';'-separated file is an Excel export with decimal commas: 1,5 is 1.5.
  ASSERT_TRUE(semi.at("a").is_numeric());
  EXPECT_DOUBLE_EQ(semi.at("a").numbers[0], 1.5);
  // Commas inside quotes do not count.
  EXPECT_EQ(parse_table("\"a,1\"\t\"b,2\"\nx\ty\n", 0).names(), (std::vector<std::string>{"a,1", "b,2"}));
  EXPECT_EQ(parse_table("single\n1\n", 0).columns.size(), 1u);
}

TEST(ParseTable, ColumnNamesAreUnquotedAndTrimmed) {
  DataFrame df = parse_table("\"a\", b ,\"c d\"\n1,2,3\n", ',');
  EXPECT_EQ(df.names(), (std::vector<std::string>{"a", "b", "c d"}));
}

// ---- missing values and types ----

TEST(ParseTable, MissingTokens) {
  DataFrame df = parse_table("x,g\n1,a\n,\nNA,NA\n.,.\nNaN,NaN\n\"NA\",\"NA\"\n\"\",b\n  NA ,c\n", ',');
  EXPECT_EQ(df.nrows, 8u);
  const Column& x = df.at("x");
  ASSERT_TRUE(x.is_numeric());
  EXPECT_EQ(x.numbers[0], 1.0);
  for (std::size_t i = 1; i < 8; ++i) EXPECT_TRUE(x.missing(i)) << i;
  const Column& g = df.at("g");
  ASSERT_FALSE(g.is_numeric());
  EXPECT_EQ(g.levels, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(g.codes, (std::vector<std::int32_t>{0, -1, -1, -1, -1, -1, 1, 2}));
}

TEST(ParseTable, AllMissingColumnIsNumeric) {
  DataFrame df = parse_table("a,b\nNA,1\n,2\n", ',');
  const Column& a = df.at("a");
  ASSERT_TRUE(a.is_numeric());
  EXPECT_TRUE(std::isnan(a.numbers[0]));
  EXPECT_TRUE(std::isnan(a.numbers[1]));
}

TEST(ParseTable, NumberSyntax) {
  DataFrame df = parse_table(
      "v\n3\n-2.5\n+4\n1e3\n.5\n 7 \n\"308\"\nInf\n-Inf\ninf\nInfinity\n1e400\n-1e400\n1e-400\n1E-2\n", ',');
  const Column& v = df.at("v");
  ASSERT_TRUE(v.is_numeric());
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> expected{3, -2.5, 4, 1000, 0.5, 7, 308, inf, -inf, inf, inf, inf, -inf, 0, 0.01};
  EXPECT_EQ(v.numbers, expected);
  EXPECT_FALSE(std::signbit(v.numbers[13]));
  DataFrame neg = parse_table("v\n-1e-400\n-0.00001e-999999999999\n1000e307\n0.0001e-330\n", ',');
  EXPECT_TRUE(std::signbit(neg.at("v").numbers[0]));
  EXPECT_EQ(neg.at("v").numbers[0], 0.0);
  EXPECT_EQ(neg.at("v").numbers[1], 0.0);
  EXPECT_EQ(neg.at("v").numbers[2], inf);
  EXPECT_EQ(neg.at("v").numbers[3], 0.0);
}

// The reader's one-step path for plain decimals ("12", "-0.25") must give the general parser's
// double and keep the text exactly where the general path kept it.
TEST(ParseTable, PlainDecimalsAsTheGeneralParser) {
  const std::vector<std::string> cells{
      "0", "7", "-3", "10", "0.1", "0.3", "-0.5", "2.675", "1.005", "123456789012345", "-999999999999999",
      "12345678901234.5", "0.000000000000001", "9007199254740993", "1234567890123456", "0.1234567890123456",
      "4.35", "80.1", "1.15", "-0.7", "3.14159265358979", "99.99", "0.30000000000000004"};
  std::string csv = "v\n";
  for (const auto& c : cells) csv += c + "\n";
  const DataFrame df = parse_table(csv, ',');
  const Column& v = df.at("v");
  ASSERT_TRUE(v.is_numeric());
  ASSERT_EQ(v.numbers.size(), cells.size());
  for (std::size_t i = 0; i < cells.size(); ++i) EXPECT_EQ(v.numbers[i], std::stod(cells[i])) << cells[i];
  // Integers of more than 15 digits are not plain: from the first on, each cell's text is kept.
  ASSERT_TRUE(v.has_text());
  for (std::size_t i : {0, 4, 13, 22}) EXPECT_EQ(v.text_levels[static_cast<std::size_t>(v.text_codes[i])], cells[i]);
  // Text that says more than its number is kept, before and after plain cells.
  for (const std::string& odd : {"-0", "01", "3.10", "3.", "+4"}) {
    const DataFrame d = parse_table("v\n1\n" + odd + "\n2.5\n", ',');
    const Column& c = d.at("v");
    ASSERT_TRUE(c.has_text()) << odd;
    EXPECT_EQ(c.text_levels.size(), 3u) << odd;
  }
  EXPECT_FALSE(parse_table("v\n1\n 5 \n", ',').at("v").has_text());  // trimmed, "5" is plain
  // With decimal commas a '.' is no decimal point: "3.5" is text, "3" a number.
  lmm::ReadOptions comma;
  comma.decimal = ',';
  comma.delimiter = ';';
  EXPECT_FALSE(parse_table("v\n3\n3.5\n", comma).at("v").is_numeric());
  // A declared missing code that is a plain number is missing.
  lmm::ReadOptions na;
  na.na_values = {"-99"};
  const DataFrame dm = parse_table("v\n1\n-99\n2\n", na);
  const Column& m = dm.at("v");
  EXPECT_TRUE(m.missing(1));
  EXPECT_EQ(m.numbers[2], 2);
}

TEST(ParseTable, NotNumbersMakeTheColumnCategorical) {
  for (const char* value : {"\"1,5\"", "1 000", "12abc", "+-1", "+", "0x10", "1e", "--1", "1.2.3", "abc"}) {
    DataFrame df = parse_table(std::string("v\n1\n") + value + "\n2\n", ',');
    const Column& v = df.at("v");
    EXPECT_FALSE(v.is_numeric()) << value;
    // The rows read before the switch are filled in.
    ASSERT_EQ(v.codes.size(), 3u) << value;
    EXPECT_EQ(v.levels[v.codes[0]], "1") << value;
    EXPECT_EQ(v.levels[v.codes[2]], "2") << value;
  }
}

TEST(ParseTable, LateSwitchToCategoricalKeepsEarlierValuesAndMissing) {
  std::string text = "a,b,c\n";
  for (int i = 0; i < 1000; ++i) text += std::to_string(i % 7) + "," + (i % 10 == 0 ? "NA" : "1.50") + ",z\n";
  text += "x,y,z\n";
  DataFrame df = parse_table(text, ',');
  ASSERT_EQ(df.nrows, 1001u);
  const Column& a = df.at("a");
  ASSERT_FALSE(a.is_numeric());
  EXPECT_EQ(a.levels, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "x"}));
  EXPECT_EQ(a.codes[0], 0);
  EXPECT_EQ(a.codes[13], 6);
  EXPECT_EQ(a.codes[1000], 7);
  const Column& b = df.at("b");
  ASSERT_FALSE(b.is_numeric());
  EXPECT_EQ(b.levels, (std::vector<std::string>{"1.50", "y"}));  // the text as written
  EXPECT_EQ(b.codes[0], -1);
  EXPECT_EQ(b.codes[1], 0);
  EXPECT_EQ(b.codes[1000], 1);
  EXPECT_EQ(df.at("c").levels, (std::vector<std::string>{"z"}));
}

TEST(ParseTable, LevelsSortedByBytes) {
  DataFrame df = parse_table("g\nb\nB\na\n\xC3\xA9\nb\n10\n9\n", ',');
  const Column& g = df.at("g");
  EXPECT_EQ(g.levels, (std::vector<std::string>{"10", "9", "B", "a", "b", "\xC3\xA9"}));
  EXPECT_EQ(g.codes, (std::vector<std::int32_t>{4, 2, 3, 5, 4, 0, 1}));
}

TEST(ParseTable, ManyLevelsSortedAndCoded) {
  // Long shared prefixes, short strings, embedded NUL and high bytes: the sort must agree with
  // std::string's operator<, and every code must point at its own text.
  std::vector<std::string> values;
  unsigned state = 12345;
  auto next = [&] { return state = state * 1103515245u + 12345u, (state >> 16) & 0x7fff; };
  for (int i = 0; i < 30000; ++i) {
    std::string v;
    switch (next() % 4) {
      case 0: v = "subject_prefix_" + std::to_string(next() % 5000); break;
      case 1: v = std::string(1 + next() % 3, static_cast<char>('a' + next() % 3)); break;
      case 2: v = std::string("ab\0", 3) + std::to_string(next() % 50); break;
      default: v = "\xff" + std::to_string(next()) + "x"; break;
    }
    values.push_back(v);
  }
  std::string text = "g\n";
  for (const auto& v : values) text += v + "\n";
  DataFrame df = parse_table(text, ',');
  const Column& g = df.at("g");
  ASSERT_FALSE(g.is_numeric());
  std::set<std::string> distinct(values.begin(), values.end());
  EXPECT_EQ(g.levels, std::vector<std::string>(distinct.begin(), distinct.end()));
  ASSERT_EQ(g.codes.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) ASSERT_EQ(g.levels[g.codes[i]], values[i]) << i;
}

// ---- DataFrame accessors ----

TEST(DataFrame, FindAtNames) {
  DataFrame df = parse_table("a,b,c\n1,2,x\n", ',', "data.csv");
  EXPECT_NE(df.find("b"), nullptr);
  EXPECT_EQ(df.find("B"), nullptr);
  EXPECT_EQ(&df.at("c"), df.find("c"));
  EXPECT_EQ(df.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_ERROR(df.at("foo"), "column 'foo' not found in data.csv; columns are: a, b, c");
  EXPECT_FALSE(df.at("a").missing(0));
  // Names with line breaks are escaped: the message stays one line.
  DataFrame odd = parse_table("\"a\nb\",c\n1,2\n", ',', "odd.csv");
  EXPECT_EQ(odd.names(), (std::vector<std::string>{"a\nb", "c"}));
  EXPECT_ERROR(odd.at("x"), "column 'x' not found in odd.csv; columns are: a\\x0ab, c");
}

// ---- errors ----

TEST(Errors, RaggedRow) {
  EXPECT_ERROR(parse_table("a,b,c,d\n1,2,3,4\n1,2,3,4\n\n1,2,3,4\n1,2,3,4\n1,2,3\n", ',', "data.csv"),
               "data.csv: line 7 has 3 fields, the header has 4");
  EXPECT_ERROR(parse_table("a,b\n1,2,3\n", ',', "data.csv"), "data.csv: line 2 has 3 fields, the header has 2");
}

TEST(Errors, DuplicateColumnName) {
  EXPECT_ERROR(parse_table("a,x,b,c,x\n1,2,3,4,5\n", ',', "data.csv"),
               "data.csv: duplicate column name 'x' (columns 2 and 5)");
  EXPECT_ERROR(parse_table("x,\"x\"\n", ',', "data.csv"), "duplicate column name 'x' (columns 1 and 2)");
}

TEST(Errors, EmptyColumnName) {
  EXPECT_ERROR(parse_table("a,,c\n1,2,3\n", ',', "data.csv"), "data.csv: column 2 has an empty name");
  EXPECT_ERROR(parse_table("\"\",\"x\"\n\"1\",2\n", ',', "data.csv"), "data.csv: column 1 has an empty name");
}

TEST_F(TempDir, CannotOpen) {
  std::string path = (dir_ / "foo.csv").string();
  EXPECT_ERROR(read_table(path), "cannot open '" + path + "': No such file or directory");
  EXPECT_ERROR(read_table(dir_.string()), "it is a directory");
}

TEST_F(TempDir, EmptyFile) {
  EXPECT_ERROR(read_table(write("data.csv", "")), "data.csv: the file is empty");
  EXPECT_ERROR(read_table(write("ws.csv", " \r\n\n\t\n")), "ws.csv: the file is empty");
  EXPECT_ERROR(read_table(write("bom.csv", "\xEF\xBB\xBF")), "bom.csv: the file is empty");
  EXPECT_ERROR(parse_table("", ','), "<text>: the file is empty");
}

TEST(Errors, QuotedFieldNotClosed) {
  std::string text = "a,b\n";
  for (int i = 0; i < 10; ++i) text += "1,2\n";
  text += "3,\"open\n4,5\n6,7\n";  // line 12
  EXPECT_ERROR(parse_table(text, ',', "data.csv"), "data.csv: line 12: a quoted field is not closed (column 'b')");
  EXPECT_ERROR(parse_table("\"a,b\n", ',', "data.csv"), "data.csv: line 1: a quoted field is not closed");
}

TEST_F(TempDir, GzipFile) {
  EXPECT_ERROR(read_table(write("x.csv.gz", std::string("\x1f\x8b\x08\x00", 4))), "gzip");
}

// ---- files: delimiter by extension ----

TEST_F(TempDir, DelimiterByExtensionOrOption) {
  // By extension the comma wins even though the header has a tab.
  DataFrame csv = read_table(write("t.csv", "a\tb,c\n1\t2,3\n"));
  EXPECT_EQ(csv.names(), (std::vector<std::string>{"a\tb", "c"}));
  DataFrame tsv = read_table(write("t.TSV", "a\tb,c\n1\t2,3\n"));
  EXPECT_EQ(tsv.names(), (std::vector<std::string>{"a", "b,c"}));
  DataFrame tab = read_table(write("t.tab", "a\tb\n1\t2\n"));
  EXPECT_EQ(tab.names(), (std::vector<std::string>{"a", "b"}));
  DataFrame txt = read_table(write("t.txt", "a;b;c\n1;2;3\n"));
  EXPECT_EQ(txt.names(), (std::vector<std::string>{"a", "b", "c"}));
  lmm::ReadOptions semicolon;
  semicolon.delimiter = ';';
  DataFrame opt = read_table(write("s.csv", "a;b\n1,5;2\n"), semicolon);
  EXPECT_EQ(opt.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(opt.at("b").numbers, (std::vector<double>{2}));
}

// ---- hostile input: no crash, no hang ----

TEST(Hostile, NulAndNonUtf8Bytes) {
  const char raw[] = "a,b\nx\0y,1\n\xff\xfe,2\n";
  std::string text(raw, sizeof raw - 1);
  DataFrame df = parse_table(text, ',');
  ASSERT_EQ(df.nrows, 2u);
  const Column& a = df.at("a");
  ASSERT_FALSE(a.is_numeric());
  EXPECT_EQ(a.levels[a.codes[0]], std::string("x\0y", 3));
  EXPECT_EQ(a.levels[a.codes[1]], "\xff\xfe");
  // A NUL in a name is escaped in messages, which stay one line.
  EXPECT_ERROR(parse_table(std::string("a\0,a\0\n", 6), ','), "duplicate column name 'a\\x00'");
}

TEST(Hostile, LongLine) {
  std::string big(10'000'000, 'x');
  DataFrame df = parse_table("a,b\n" + big + ",1\n", ',');
  EXPECT_EQ(df.at("a").levels[0].size(), big.size());
  EXPECT_ERROR(parse_table("a\n\"" + big, ','), "line 2: a quoted field is not closed");
}

TEST(Hostile, ManyColumns) {
  const int n = 100'000;
  std::string header, row;
  for (int i = 0; i < n; ++i) {
    header += (i ? ",c" : "c") + std::to_string(i);
    row += (i ? "," : "") + std::to_string(i);
  }
  std::string text = header + "\n" + row + "\n" + row + "\n";
  // The last column turns categorical on the last row, so every column's earlier row is re-read.
  std::string last = header + "\n" + row + "\n";
  for (int i = 0; i < n; ++i) last += i ? ",x" : "x";
  last += "\n";
  DataFrame df = parse_table(text, ',');
  EXPECT_EQ(df.columns.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(df.at("c99999").numbers[1], 99999.0);
  DataFrame cat = parse_table(last, ',');
  EXPECT_EQ(cat.at("c12345").levels, (std::vector<std::string>{"12345", "x"}));
  std::string dup = header + ",c7\n";
  EXPECT_ERROR(parse_table(dup, ','), "duplicate column name 'c7' (columns 8 and 100001)");
  EXPECT_ERROR(parse_table(text, ',').at("nope"), "(99970 more)");
}

TEST(Hostile, StrayQuotes) {
  // Quotes inside an unquoted field are kept; text after a closing quote is kept.
  DataFrame df = parse_table("a,b\nx\"y,\"p\"q\n", ',');
  EXPECT_EQ(df.at("a").levels, (std::vector<std::string>{"x\"y"}));
  EXPECT_EQ(df.at("b").levels, (std::vector<std::string>{"pq"}));
  EXPECT_ERROR(parse_table("a,b\n1,2\n\"", ','), "line 3: a quoted field is not closed (column 'a')");
}

}  // namespace
