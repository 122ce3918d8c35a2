// parse_formula: terms, their order and labels, random-effects terms, and error messages.
#include "lmm/formula.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "lmm/error.h"

namespace lmm {
namespace {

std::vector<std::string> labels(const std::vector<Term>& terms) {
  std::vector<std::string> out;
  for (const Term& t : terms) out.push_back(t.label());
  return out;
}

std::vector<std::string> fixed(const std::string& f) { return labels(parse_formula(f).fixed); }

/// "lhs | group" for each random term, e.g. "1 + x | g", "0 + x | g", "1 | b:a".
std::vector<std::string> random_terms(const std::string& f) {
  std::vector<std::string> out;
  for (const RandomTerm& r : parse_formula(f).random) {
    std::string s = r.intercept ? "1" : "0";
    for (const Term& t : r.terms) s += " + " + t.label();
    out.push_back(s + " | " + r.group_label());
  }
  return out;
}

/// The error message parse_formula gives, or "" when it parses.
std::string error_of(const std::string& f) {
  try {
    parse_formula(f);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

using V = std::vector<std::string>;

TEST(Formula, SimpleFixedAndRandom) {
  const Formula f = parse_formula("Reaction ~ Days + (Days | Subject)");
  EXPECT_EQ(f.text, "Reaction ~ Days + (Days | Subject)");
  EXPECT_EQ(f.response.kind, Expr::Kind::Variable);
  EXPECT_EQ(f.response.label(), "Reaction");
  EXPECT_TRUE(f.intercept);
  EXPECT_EQ(labels(f.fixed), V{"Days"});
  ASSERT_EQ(f.random.size(), 1u);
  EXPECT_TRUE(f.random[0].intercept);
  EXPECT_EQ(labels(f.random[0].terms), V{"Days"});
  EXPECT_EQ(f.random[0].grouping, V{"Subject"});
  EXPECT_EQ(f.random[0].group_label(), "Subject");
  EXPECT_EQ(f.deparse(), "Reaction ~ 1 + Days + (1 + Days | Subject)");
}

TEST(Formula, Intercept) {
  EXPECT_TRUE(parse_formula("y ~ x").intercept);
  EXPECT_TRUE(parse_formula("y ~ 1 + x").intercept);
  EXPECT_FALSE(parse_formula("y ~ 0 + x").intercept);
  EXPECT_FALSE(parse_formula("y ~ x + 0").intercept);
  EXPECT_FALSE(parse_formula("y ~ x - 1").intercept);
  EXPECT_FALSE(parse_formula("y ~ -1 + x").intercept);
  EXPECT_FALSE(parse_formula("y ~ x + (1 | g) - 1").intercept);
  EXPECT_FALSE(parse_formula("y ~ (1 | g) - 1").intercept);
  EXPECT_EQ(fixed("y ~ -1 + x"), V{"x"});
  EXPECT_EQ(fixed("y ~ x - 1"), V{"x"});

  const Formula only = parse_formula("Yield ~ 1 + (1 | Batch)");
  EXPECT_TRUE(only.intercept);
  EXPECT_TRUE(only.fixed.empty());
  const Formula none = parse_formula("y ~ 0 + (1 | g)");
  EXPECT_FALSE(none.intercept);
  EXPECT_TRUE(none.fixed.empty());
  EXPECT_EQ(none.deparse(), "y ~ 0 + (1 | g)");
}

TEST(Formula, InteractionsAndCrossing) {
  EXPECT_EQ(fixed("y ~ time * group"), (V{"time", "group", "time:group"}));
  EXPECT_EQ(fixed("y ~ a:b"), V{"a:b"});
  EXPECT_EQ(fixed("y ~ a*b*c"), (V{"a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"}));
  EXPECT_EQ(fixed("y ~ (a + b) * c"), (V{"a", "b", "c", "a:c", "b:c"}));
  EXPECT_EQ(fixed("y ~ (a + b):c"), (V{"a:c", "b:c"}));
  EXPECT_EQ(fixed("y ~ (a + b + c)^2"), (V{"a", "b", "c", "a:b", "a:c", "b:c"}));
  EXPECT_EQ(fixed("y ~ a/b"), (V{"a", "a:b"}));
  EXPECT_EQ(fixed("y ~ (a + b)/c"), (V{"a", "b", "a:b:c"}));
  EXPECT_EQ(fixed("y ~ (x)"), V{"x"});
  EXPECT_EQ(fixed("y ~ ((x + z))"), (V{"x", "z"}));
}

TEST(Formula, TermsAreOrderedByOrderThenAsWritten) {
  EXPECT_EQ(fixed("y ~ a:b + c + d:e:f + g"), (V{"c", "g", "a:b", "d:e:f"}));
  EXPECT_EQ(fixed("y ~ recipe * temp"), (V{"recipe", "temp", "recipe:temp"}));
  EXPECT_EQ(fixed("y ~ z + x:z + x"), (V{"z", "x", "z:x"}));
}

TEST(Formula, DuplicatesAreRemoved) {
  EXPECT_EQ(fixed("y ~ x + x"), V{"x"});
  EXPECT_EQ(fixed("y ~ a:b + b:a"), V{"a:b"});
  EXPECT_EQ(fixed("y ~ a*b + a:b + b"), (V{"a", "b", "a:b"}));
  EXPECT_EQ(fixed("y ~ x:x"), V{"x"});
  EXPECT_EQ(fixed("y ~ log(x) + log( x )"), V{"log(x)"});
}

TEST(Formula, InteractionLabelsFollowTheOrderOfTheVariables) {
  // As R's terms(): variables are numbered as they first appear, and an interaction is labelled
  // in that order whatever its spelling.
  EXPECT_EQ(fixed("y ~ b:a"), V{"b:a"});
  EXPECT_EQ(fixed("y ~ a + b + b:a"), (V{"a", "b", "a:b"}));
  EXPECT_EQ(fixed("y ~ b + a + a:b"), (V{"b", "a", "b:a"}));
}

TEST(Formula, TermRemoval) {
  EXPECT_EQ(fixed("y ~ a*b - a:b"), (V{"a", "b"}));
  EXPECT_EQ(fixed("y ~ x + z - z"), V{"x"});
  EXPECT_EQ(fixed("y ~ a*b*c - a:b:c"), (V{"a", "b", "c", "a:b", "a:c", "b:c"}));
  EXPECT_EQ(fixed("y ~ a*b - b:a"), (V{"a", "b"}));
  EXPECT_EQ(fixed("y ~ x - z"), V{"x"});
}

TEST(Formula, ExpressionLabels) {
  EXPECT_EQ(fixed("y ~ age + I(age^2)"), (V{"age", "I(age^2)"}));
  EXPECT_EQ(fixed("y ~ I(x - 1)"), V{"I(x - 1)"});
  EXPECT_EQ(fixed("y ~ I(x-1)"), V{"I(x - 1)"});
  EXPECT_EQ(fixed("y ~ I(a*b)"), V{"I(a * b)"});
  EXPECT_EQ(fixed("y ~ I(a + b)"), V{"I(a + b)"});
  EXPECT_EQ(fixed("y ~ I(x / 2)"), V{"I(x/2)"});
  EXPECT_EQ(fixed("y ~ I((x - 1)^2)"), V{"I((x - 1)^2)"});
  EXPECT_EQ(fixed("y ~ I(-x)"), V{"I(-x)"});
  EXPECT_EQ(fixed("y ~ I(2^-1 * x)"), V{"I(2^-1 * x)"});
  EXPECT_EQ(fixed("y ~ I(-2^2 * x)"), V{"I(-2^2 * x)"});
  EXPECT_EQ(fixed("y ~ log(x)"), V{"log(x)"});
  EXPECT_EQ(fixed("y ~ exp(x)"), V{"exp(x)"});
  EXPECT_EQ(fixed("y ~ sqrt(x + 1)"), V{"sqrt(x + 1)"});
  EXPECT_EQ(fixed("y ~ log(I(x^2))"), V{"log(I(x^2))"});
  EXPECT_EQ(fixed("y ~ I(log(x)*2)"), V{"I(log(x) * 2)"});
  EXPECT_EQ(fixed("y ~ factor(Diet)"), V{"factor(Diet)"});
  EXPECT_EQ(fixed("y ~ x:log(z)"), V{"x:log(z)"});
  EXPECT_EQ(fixed("y ~ `my var` + `2x`"), (V{"`my var`", "`2x`"}));
  EXPECT_EQ(parse_formula("y ~ `my var`").fixed[0].factors[0].name, "my var");
  EXPECT_EQ(parse_formula("log(y) ~ x + (1 | g)").response.label(), "log(y)");
  EXPECT_EQ(parse_formula("I(y/10) ~ x").response.label(), "I(y/10)");
}

// The labels R's deparse gives, which name the model matrix's columns.
TEST(Formula, FactorAndMatrixFunctionLabels) {
  EXPECT_EQ(fixed("y ~ relevel(Sex, 'Male')"), V{"relevel(Sex, \"Male\")"});
  EXPECT_EQ(fixed("y ~ factor(x, levels = c(\"b\", \"a\"))"), V{"factor(x, levels = c(\"b\", \"a\"))"});
  EXPECT_EQ(fixed("y ~ factor(x, levels=c(2,1), ordered=TRUE)"),
            V{"factor(x, levels = c(2, 1), ordered = TRUE)"});
  EXPECT_EQ(fixed("y ~ C(g, contr.sum) + ordered(h)"), (V{"C(g, contr.sum)", "ordered(h)"}));
  EXPECT_EQ(fixed("y ~ C(relevel(g, \"b\"), contr.helmert)"), V{"C(relevel(g, \"b\"), contr.helmert)"});
  EXPECT_EQ(fixed("y ~ poly(x, 2) + poly(z, 3, raw = TRUE)"), (V{"poly(x, 2)", "poly(z, 3, raw = TRUE)"}));
  EXPECT_EQ(fixed("y ~ scale(x) + I(scale(x)^2)"), (V{"scale(x)", "I(scale(x)^2)"}));
  const Formula f = parse_formula("y ~ poly(degree = 2, x = t)");
  ASSERT_NE(f.fixed[0].factors[0].argument("x", 0), nullptr);
  EXPECT_EQ(f.fixed[0].factors[0].argument("x", 0)->name, "t");
  EXPECT_EQ(f.fixed[0].factors[0].argument("degree", 1)->value, 2);
  EXPECT_EQ(f.fixed[0].factors[0].variables(), V{"t"});
  EXPECT_TRUE(parse_formula("y ~ relevel(g, 'a')").fixed[0].factors[0].is_factor_call());
  EXPECT_FALSE(parse_formula("y ~ poly(x, 2)").fixed[0].factors[0].is_factor_call());
}

// R's InTerms: a %in% b is the interaction of a with all of b's variables (labels as R's terms()
// gives them: variables in order of appearance).
TEST(Formula, InOperator) {
  EXPECT_EQ(fixed("y ~ a + b %in% a"), (V{"a", "a:b"}));
  EXPECT_EQ(fixed("y ~ (b + c) %in% a"), (V{"b:a", "c:a"}));
  EXPECT_EQ(fixed("y ~ b %in% (a + d)"), V{"b:a:d"});
}

TEST(Formula, FactorCallInAGroupingTerm) {
  const Formula f = parse_formula("y ~ x + (1 | factor(id)) + (1 | a/factor(b))");
  ASSERT_EQ(f.random.size(), 3u);
  EXPECT_EQ(f.random[0].group_label(), "factor(id)");
  EXPECT_EQ(f.random[0].grouping, V{"id"});
  EXPECT_EQ(f.random[1].group_label(), "factor(b):a");
  EXPECT_EQ(f.random[2].group_label(), "a");
}

TEST(Formula, NumbersPrintAsR) {
  EXPECT_EQ(fixed("y ~ I(x * 2)"), V{"I(x * 2)"});
  EXPECT_EQ(fixed("y ~ I(x * 2.0)"), V{"I(x * 2)"});
  EXPECT_EQ(fixed("y ~ I(x * .5)"), V{"I(x * 0.5)"});
  EXPECT_EQ(fixed("y ~ I(x * 0.0001)"), V{"I(x * 1e-04)"});
  EXPECT_EQ(fixed("y ~ I(x * 0.001)"), V{"I(x * 0.001)"});
  EXPECT_EQ(fixed("y ~ I(x / 100000)"), V{"I(x/1e+05)"});
  EXPECT_EQ(fixed("y ~ I(x * 123456)"), V{"I(x * 123456)"});
  EXPECT_EQ(fixed("y ~ I(x * 1200000)"), V{"I(x * 1200000)"});  // a tie with 1.2e+06: fixed
  EXPECT_EQ(fixed("y ~ I(x * 12000000)"), V{"I(x * 1.2e+07)"});
  EXPECT_EQ(fixed("y ~ I(x * 123456789012345)"), V{"I(x * 123456789012345)"});
  EXPECT_EQ(fixed("y ~ I(x * 1e15)"), V{"I(x * 1e+15)"});
  EXPECT_EQ(fixed("y ~ I(x * 1.5e3)"), V{"I(x * 1500)"});
  EXPECT_EQ(fixed("y ~ I(x * 3.14159265358979)"), V{"I(x * 3.14159265358979)"});
  EXPECT_EQ(fixed("y ~ I(x * 1e-300)"), V{"I(x * 1e-300)"});
}

TEST(Formula, ExprStructure) {
  const Formula f = parse_formula("y ~ I(age^2) + factor(d) + log(x)");
  ASSERT_EQ(f.fixed.size(), 3u);
  const Expr& sq = f.fixed[0].factors[0];
  EXPECT_EQ(sq.kind, Expr::Kind::Call);
  EXPECT_EQ(sq.name, "I");
  ASSERT_EQ(sq.args.size(), 1u);
  EXPECT_EQ(sq.args[0].kind, Expr::Kind::Binary);
  EXPECT_EQ(sq.args[0].name, "^");
  EXPECT_EQ(sq.args[0].args[1].kind, Expr::Kind::Number);
  EXPECT_EQ(sq.args[0].args[1].value, 2.0);
  EXPECT_FALSE(sq.is_factor_call());
  EXPECT_TRUE(f.fixed[1].factors[0].is_factor_call());
  EXPECT_EQ(f.fixed[2].factors[0].variables(), V{"x"});
  EXPECT_EQ(parse_formula("y ~ I(a * b + a - c)").fixed[0].factors[0].variables(),
            (V{"a", "b", "c"}));
}

TEST(Formula, RandomTerms) {
  EXPECT_EQ(random_terms("y ~ x + (1 | g)"), V{"1 | g"});
  EXPECT_EQ(random_terms("y ~ x + (x | g)"), V{"1 + x | g"});
  EXPECT_EQ(random_terms("y ~ x + (1 + x | g)"), V{"1 + x | g"});
  EXPECT_EQ(random_terms("y ~ x + (0 + x | g)"), V{"0 + x | g"});
  EXPECT_EQ(random_terms("y ~ x + (x - 1 | g)"), V{"0 + x | g"});
  EXPECT_EQ(random_terms("y ~ x + (x + z | g)"), V{"1 + x + z | g"});
  EXPECT_EQ(random_terms("y ~ x + (0 + f | g)"), V{"0 + f | g"});
  EXPECT_EQ(random_terms("y ~ x + (factor(d) | g)"), V{"1 + factor(d) | g"});
  EXPECT_EQ(random_terms("y ~ x + (x*z | g)"), V{"1 + x + z + x:z | g"});
  EXPECT_EQ(random_terms("y ~ (1 | plate) + (1 | sample)"), (V{"1 | plate", "1 | sample"}));
  EXPECT_EQ(random_terms("y ~ (1 | a) + x + (x | b) + z + (1 | c)"),
            (V{"1 | a", "1 + x | b", "1 | c"}));
  EXPECT_EQ(fixed("y ~ (1 | a) + x + (x | b) + z + (1 | c)"), (V{"x", "z"}));
  EXPECT_EQ(random_terms("y ~ x + ((1 | g))"), V{"1 | g"});
  EXPECT_EQ(random_terms("y ~ x + ((1 | g) + (1 | h))"), (V{"1 | g", "1 | h"}));
}

TEST(Formula, DoubleBarExpandsToUncorrelatedTerms) {
  EXPECT_EQ(random_terms("Reaction ~ Days + (Days || Subject)"),
            (V{"1 | Subject", "0 + Days | Subject"}));
  EXPECT_EQ(random_terms("y ~ (1 + x + z || g)"), (V{"1 | g", "0 + x | g", "0 + z | g"}));
  EXPECT_EQ(random_terms("y ~ (0 + x + z || g)"), (V{"0 + x | g", "0 + z | g"}));
  EXPECT_EQ(random_terms("y ~ (x * z || g)"),
            (V{"1 | g", "0 + x | g", "0 + z | g", "0 + x:z | g"}));
  EXPECT_EQ(random_terms("y ~ (1 || g)"), V{"1 | g"});
}

TEST(Formula, NestingAndInteractionGrouping) {
  const Formula f = parse_formula("strength ~ 1 + (1 | batch/cask)");
  ASSERT_EQ(f.random.size(), 2u);
  EXPECT_EQ(f.random[0].grouping, (V{"cask", "batch"}));
  EXPECT_EQ(f.random[0].group_label(), "cask:batch");
  EXPECT_EQ(f.random[1].grouping, V{"batch"});
  EXPECT_EQ(f.random[1].group_label(), "batch");

  EXPECT_EQ(random_terms("y ~ (1 | a/b/c)"), (V{"1 | c:b:a", "1 | b:a", "1 | a"}));
  EXPECT_EQ(random_terms("y ~ (1 | recipe:replicate)"), V{"1 | recipe:replicate"});
  EXPECT_EQ(parse_formula("y ~ (1 | recipe:replicate)").random[0].grouping,
            (V{"recipe", "replicate"}));
  EXPECT_EQ(random_terms("y ~ (1 | (a:b)/c)"), (V{"1 | c:a:b", "1 | a:b"}));
  EXPECT_EQ(random_terms("y ~ (x || a/b)"), (V{"1 | b:a", "1 | a", "0 + x | b:a", "0 + x | a"}));
  EXPECT_EQ(random_terms("y ~ (x | a/b)"), (V{"1 + x | b:a", "1 + x | a"}));
}

TEST(Formula, Deparse) {
  EXPECT_EQ(parse_formula("y ~ time*group + (time | id)").deparse(),
            "y ~ 1 + time + group + time:group + (1 + time | id)");
  EXPECT_EQ(parse_formula("log(y) ~ 0 + I(x^2) + (x || g)").deparse(),
            "log(y) ~ 0 + I(x^2) + (1 | g) + (0 + x | g)");
}

// ---- errors: message, position and caret ----

TEST(FormulaErrors, ExactMessageAndCaret) {
  EXPECT_EQ(error_of("y ~ x + (1 | g))"),
            "formula: unbalanced parentheses: ')' has no matching '(' at character 16\n"
            "  y ~ x + (1 | g))\n"
            "                 ^");
  EXPECT_EQ(error_of("y ~ x +"),
            "formula: missing term after '+' at character 7\n"
            "  y ~ x +\n"
            "        ^");
}

struct ErrorCase {
  std::string formula;
  std::string what;   // expected part of the first line
  std::size_t where;  // expected 1-based character
};

class FormulaErrorCases : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(FormulaErrorCases, MessageNamesProblemAndPosition) {
  const ErrorCase& c = GetParam();
  const std::string msg = error_of(c.formula);
  ASSERT_FALSE(msg.empty()) << c.formula << " should not parse";
  const std::string first = msg.substr(0, msg.find('\n'));
  EXPECT_EQ(first.rfind("formula: ", 0), 0u) << msg;
  EXPECT_NE(first.find(c.what), std::string::npos) << msg;
  EXPECT_NE(first.find("at character " + std::to_string(c.where)), std::string::npos) << msg;
  // Second line: the formula; third: the caret under the character.
  const std::size_t nl1 = msg.find('\n');
  const std::size_t nl2 = msg.find('\n', nl1 + 1);
  ASSERT_NE(nl2, std::string::npos) << msg;
  EXPECT_EQ(msg.substr(nl1 + 1, nl2 - nl1 - 1), "  " + c.formula);
  EXPECT_EQ(msg.substr(nl2 + 1), std::string(c.where + 1, ' ') + "^");
  EXPECT_EQ(msg.find('\n', nl2 + 1), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    All, FormulaErrorCases,
    ::testing::Values(
        ErrorCase{"", "empty formula", 1}, ErrorCase{"   ", "empty formula", 1},
        ErrorCase{"y", "missing '~'", 2}, ErrorCase{"y x + (1 | g)", "missing '~'", 3},
        ErrorCase{"~ x + (1 | g)", "missing response before '~'", 1},
        ErrorCase{"y ~", "nothing after '~'", 3}, ErrorCase{"y ~   ", "nothing after '~'", 3},
        ErrorCase{"y ~ x ~ z", "unexpected '~'", 7},
        ErrorCase{"y ~ (x + z", "'(' is never closed", 5},
        ErrorCase{"y ~ x + (1 | g", "'(' is never closed", 9},
        ErrorCase{"y ~ x)", "')' has no matching '('", 6},
        ErrorCase{"y ~ foo(x) + (1 | g)",
                  "unknown function 'foo'; the supported functions are I(), log(), exp(), "
                  "sqrt(), scale(), factor(), ordered(), relevel(), C(), poly(), offset() and cbind()",
                  5},
        ErrorCase{"y ~ I(bar(x))", "unknown function 'bar'", 7},
        ErrorCase{"y ~ x + 1 | g", "'|' outside parentheses", 11},
        ErrorCase{"y ~ x + (1 | g) + z | h", "'|' outside parentheses", 21},
        ErrorCase{"y ~ x + ( | g)", "empty random-effects term", 11},
        ErrorCase{"y ~ x + (|| g)", "empty random-effects term", 10},
        ErrorCase{"y ~ x + (1 | )", "missing grouping factor after '|'", 14},
        ErrorCase{"y ~ x + (1 |)", "missing grouping factor after '|'", 13},
        ErrorCase{"y ~ x + (1 || )", "missing grouping factor after '||'", 15},
        ErrorCase{"y ~ x +", "missing term after '+'", 7},
        ErrorCase{"y ~ x *", "missing term after '*'", 7},
        ErrorCase{"y ~ x + * z", "missing term between '+' and '*'", 9},
        ErrorCase{"y ~ x + (1 + | g)", "missing term between '+' and '|'", 14},
        ErrorCase{"y ~ x + )", "missing term after '+'", 7},
        ErrorCase{"y ~ * x", "missing term before '*'", 5},
        ErrorCase{"y ~ 1.2.3", "bad number '1.2.3'", 5},
        ErrorCase{"y ~ I(x * 2e)", "bad number '2e'", 11},
        ErrorCase{"y ~ I(x * 3abc)", "bad number '3abc'", 11},
        ErrorCase{"y ~ x + 2", "a number (2) cannot be a model term", 9},
        ErrorCase{"y ~ x + ()", "empty parentheses", 9},
        ErrorCase{"y ~ x y", "missing operator (such as '+') before 'y'", 7},
        ErrorCase{"y ~ x (1 | g)", "missing operator (such as '+') before '('", 7},
        ErrorCase{"y ~ x, z", "unexpected ','", 6},
        ErrorCase{"y ~ x $ z", "unexpected character '$'", 7},
        ErrorCase{"y ~ x %o% z", "unexpected character '%' (of the %...% operators only %in% is supported)", 7},
        ErrorCase{"y ~ x = z", "unexpected '='", 7},
        ErrorCase{"y ~ relevel(g, 2)", "argument 'ref' of relevel() must be a level in quotes", 16},
        ErrorCase{"y ~ C(g, contr.foo)", "must be contr.treatment, contr.sum, contr.helmert or contr.poly", 10},
        ErrorCase{"y ~ poly(x, 0)", "argument 'degree' of poly() must be a whole number", 13},
        ErrorCase{"y ~ poly(x, 2, raw = 1)", "argument 'raw' of poly() must be TRUE or FALSE", 22},
        ErrorCase{"y ~ poly(x, 2, rw = TRUE)", "unknown argument 'rw' of poly()", 21},
        ErrorCase{"y ~ factor(x, levels = a)", "must list levels as strings", 24},
        ErrorCase{"y ~ log(poly(x, 2))", "poly() cannot be used inside an arithmetic expression", 9},
        ErrorCase{"y ~ x + \"a\"", "a string (\"a\") cannot be a model term", 9},
        ErrorCase{"y ~ c(x)", "unknown function 'c'", 5},
        ErrorCase{"y ~ x + (1 | factor(g, levels = \"a\"))", "grouping factor after '|' must be", 14},
        ErrorCase{"y ~ x == z", "unexpected character '='", 7},
        ErrorCase{"y ~ log(x, 2)", "log() takes one argument, not 2", 5},
        ErrorCase{"y ~ I()", "I() takes one argument, not 0", 5},
        ErrorCase{"y ~ .", "'.' (all other columns) is not supported", 5},
        ErrorCase{"y ~ `x", "unterminated backquote", 5},
        ErrorCase{"y ~ x:(1 | g)", "must be a separate term", 10},
        ErrorCase{"y ~ x - (1 | g)", "cannot be subtracted", 7},
        ErrorCase{"y ~ x + (0 | g)", "has no intercept and no covariates", 10},
        ErrorCase{"y ~ x + (1 | g + h)", "'+' in a grouping factor", 16},
        ErrorCase{"y ~ x + (1 | g*h)", "'*' in a grouping factor", 15},
        ErrorCase{"y ~ x + (1 | log(g))", "grouping factor after '|' must be a variable", 14},
        ErrorCase{"y ~ x + (1 | (g | h))", "'|' inside a random-effects term", 17},
        ErrorCase{"y ~ I(a:b)", "':' is not arithmetic", 8},
        ErrorCase{"y ~ log(factor(x))", "factor() cannot be used inside", 9},
        ErrorCase{"factor(y) ~ x", "the response must be numeric", 1},
        ErrorCase{"2 ~ x", "the response must contain a variable", 1},
        ErrorCase{"y | g ~ x", "'|' in the response", 3},
        ErrorCase{"y ~ (a + b)^x", "must be a positive whole number", 13},
        ErrorCase{"y ~ x^0.5", "must be a positive whole number", 7}));

TEST(FormulaErrors, CaretCountsCharactersNotBytes) {
  const std::string msg = error_of("y ~ \xC3\xA9t\xC3\xA9 + )");  // "y ~ été + )"
  EXPECT_NE(msg.find("at character 9"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\n          ^"), std::string::npos) << msg;
}

TEST(FormulaErrors, NewlinesAndTabsInTheFormulaKeepTheMessageOnThreeLines) {
  const std::string msg = error_of("y ~ x +\n\t)");
  EXPECT_EQ(msg, "formula: missing term after '+' at character 7\n  y ~ x +  )\n        ^");
}

TEST(FormulaErrors, IsAnLmmError) {
  EXPECT_THROW(parse_formula("y ~ x + (1 | g))"), Error);
  EXPECT_THROW(parse_formula("y ~"), std::runtime_error);
}

// ---- size and depth ----

TEST(FormulaLimits, TenThousandCharacterFormulaParsesQuickly) {
  std::string f = "y ~ x0";
  int k = 1;
  while (f.size() < 10000) f += " + x" + std::to_string(k++);
  f += " + (1 + x1 | g)";
  ASSERT_GE(f.size(), 10000u);
  const auto t0 = std::chrono::steady_clock::now();
  const Formula parsed = parse_formula(f);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(parsed.fixed.size(), static_cast<std::size_t>(k));
  EXPECT_EQ(parsed.fixed.back().label(), "x" + std::to_string(k - 1));
  EXPECT_EQ(parsed.random.size(), 1u);
  EXPECT_LT(secs, 1.0);
}

TEST(FormulaLimits, LongInteractionChainAndLongArithmetic) {
  std::string f = "y ~ a0";
  for (int i = 1; i < 1500; ++i) f += ":a" + std::to_string(i);
  const Formula p = parse_formula(f);
  ASSERT_EQ(p.fixed.size(), 1u);
  EXPECT_EQ(p.fixed[0].factors.size(), 1500u);

  std::string g = "y ~ I(x";
  for (int i = 0; i < 500; ++i) g += " + x";
  g += ")";
  EXPECT_EQ(parse_formula(g).fixed.size(), 1u);

  std::string h = "y ~ I(x";
  for (int i = 0; i < 5000; ++i) h += "+x";
  h += ")";
  EXPECT_NE(error_of(h).find("expression too long"), std::string::npos);
}

TEST(FormulaLimits, ThousandNestedParenthesesGiveAnErrorNotACrash) {
  std::string f = "y ~ " + std::string(1000, '(') + "x" + std::string(1000, ')');
  const std::string msg = error_of(f);
  EXPECT_NE(msg.find("nested too deeply"), std::string::npos) << msg.substr(0, 200);
  EXPECT_NE(msg.find("at character 205"), std::string::npos) << msg.substr(0, 200);
  // The long formula is shown around the caret only.
  EXPECT_LT(msg.size(), 400u);

  std::string g = "y ~ " + std::string(1000, '(');  // also unbalanced
  EXPECT_NE(error_of(g).find("nested too deeply"), std::string::npos);
  std::string h = "y ~ I(" + std::string(1000, '-') + "x)";
  EXPECT_NE(error_of(h).find("nested too deeply"), std::string::npos);
  std::string p = "y ~ I(x";
  for (int i = 0; i < 1000; ++i) p += "^x";
  p += ")";
  EXPECT_NE(error_of(p).find("nested too deeply"), std::string::npos);
}

TEST(FormulaLimits, ModerateNestingParses) {
  std::string f = "y ~ " + std::string(100, '(') + "x" + std::string(100, ')') + " + (1 | g)";
  EXPECT_EQ(fixed(f), V{"x"});
}

TEST(FormulaLimits, ExplosiveCrossingIsRefused) {
  std::string f = "y ~ a0";
  for (int i = 1; i < 40; ++i) f += "*a" + std::to_string(i);
  EXPECT_NE(error_of(f).find("too many terms"), std::string::npos);
}

}  // namespace
}  // namespace lmm
