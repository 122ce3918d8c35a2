#include <cstdio>
int main() { std::puts("lmm: under construction"); return 0; }
