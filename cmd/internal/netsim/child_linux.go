package netsim

import "syscall"

// childAttr ties the child's life to ours: when we die, however (SIGKILL
// included), it gets the Ctrl-C that ends its run and removes its files,
// instead of simulating on, orphaned, with its share directories in RAM.
// (syscall's fork also checks that we are still there once it is set.)
// Pdeathsig comes when the thread that started the child ends, so
// RunVirtual starts it on a thread locked to it until the child is done.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT} }
