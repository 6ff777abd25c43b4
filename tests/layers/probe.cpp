// Compiled with one layer's include directories: the header named by NDGRAD_PROBE must be
// reachable from that layer exactly when it is the layer's own or one below it.
#include NDGRAD_PROBE
int main() { return 0; }
