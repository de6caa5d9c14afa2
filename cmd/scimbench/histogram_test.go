package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBucketsAreContiguousAndPrecise(t *testing.T) {
	t.Parallel()
	prevHi := int64(-1)
	for i := 0; i < histExact+40*histSubBuckets; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo > 0 && float64(hi-lo)/float64(lo) > 1.0/histSubBuckets {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d of its value", i, lo, hi, histSubBuckets)
		}
		prevHi = hi
	}
}

func TestPercentileExactBelowTwoSubBuckets(t *testing.T) {
	t.Parallel()
	h := NewHistogram()
	for v := int64(1); v <= 100; v++ {
		h.Record(v)
	}
	for _, tc := range []struct {
		p    float64
		want int64
	}{
		{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.001, 1}, {99.5, 100},
	} {
		if got := h.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %d, want %d", tc.p, got, tc.want)
		}
	}
	if h.Count() != 100 || h.Min() != 1 || h.Max() != 100 || h.Mean() != 50.5 {
		t.Errorf("count %d min %d max %d mean %v", h.Count(), h.Min(), h.Max(), h.Mean())
	}
}

// nearestRank is the reference: sorted samples, rank ceil(p/100*n).
func nearestRank(sorted []int64, p float64) int64 {
	r := int(math.Ceil(p / 100 * float64(len(sorted))))
	r = max(r, 1)
	return sorted[r-1]
}

func TestPercentileAgainstSortedSamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		gen  func(r *rand.Rand) int64
	}{
		{"uniform to 20ms", func(r *rand.Rand) int64 { return r.Int64N(20000) }},
		{"exponential", func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * 3000) }},
		{"bimodal with tail", func(r *rand.Rand) int64 {
			if r.IntN(100) == 0 {
				return 500000 + r.Int64N(1000000)
			}
			return 800 + r.Int64N(400)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			// Split across two histograms to exercise Merge.
			a, b := NewHistogram(), NewHistogram()
			var samples []int64
			for i := range 50000 {
				v := tc.gen(rng)
				samples = append(samples, v)
				if i%2 == 0 {
					a.Record(v)
				} else {
					b.Record(v)
				}
			}
			a.Merge(b)
			sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
			for _, p := range []float64{50, 90, 99, 99.9, 100} {
				want := nearestRank(samples, p)
				got := a.Percentile(p)
				if got < want || float64(got-want) > float64(want)/histSubBuckets+1 {
					t.Errorf("p%v = %d, exact %d (allowed: up to 1/%d above)", p, got, want, histSubBuckets)
				}
			}
			if a.Max() != samples[len(samples)-1] || a.Min() != samples[0] {
				t.Errorf("min/max %d/%d, want %d/%d", a.Min(), a.Max(), samples[0], samples[len(samples)-1])
			}
		})
	}
}

func TestEmptyAndNegative(t *testing.T) {
	t.Parallel()
	h := NewHistogram()
	if h.Percentile(99) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram should answer 0")
	}
	h.Record(-5)
	if h.Percentile(50) != 0 || h.Count() != 1 {
		t.Fatalf("negative value should count as 0: p50 %d count %d", h.Percentile(50), h.Count())
	}
	h.Merge(NewHistogram())
	if h.Count() != 1 {
		t.Fatal("merging an empty histogram changed the count")
	}
}

func TestPickMixFollowsWeights(t *testing.T) {
	t.Parallel()
	got := map[string]int{}
	for n := range 100 {
		got[pickMix(n)]++
	}
	for _, w := range mixWeights {
		if got[w.op] != w.weight {
			t.Errorf("%s drawn %d times in 100, weight %d", w.op, got[w.op], w.weight)
		}
	}
}

// perThousand rates each full thousand of completions from the previous
// one's end; a partial last thousand is left out.
func TestPerThousand(t *testing.T) {
	start := time.Unix(100, 0)
	var done []time.Time
	for i := range 2500 {
		// The first thousand at 1 ms each, the second at 2 ms each.
		step := time.Millisecond
		if i >= 1000 {
			step = 2 * time.Millisecond
		}
		if len(done) == 0 {
			done = append(done, start.Add(step))
		} else {
			done = append(done, done[len(done)-1].Add(step))
		}
	}
	got := perThousand(start, done)
	if len(got) != 2 || got[0] < 999 || got[0] > 1001 || got[1] < 499 || got[1] > 501 {
		t.Fatalf("perThousand = %v, want [1000 500]", got)
	}
}
