package p2pmodel

import (
	"testing"
	"time"
)

// BenchmarkGenerate is the cost of the timeline for the headline
// run (1,000 servents, 10 simulated minutes): churned against the
// no-churn baseline, whose cost is the catalog and one session each.
func BenchmarkGenerate(b *testing.B) {
	w, c := DefaultWorkload(), DefaultChurn()
	for _, bc := range []struct {
		name  string
		churn *Churn
	}{{"nochurn", nil}, {"churn", c}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Generate(Params{Nodes: 1000, Ultrapeers: 0.1, Duration: 10 * time.Minute, Seed: 1, Workload: w, Churn: bc.churn}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
