package router

// ProcessCPU is processCPU for the benchmarks of package router_test.
var ProcessCPU = processCPU
