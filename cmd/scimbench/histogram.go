package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram in the HDR style: values
// (microseconds) below 2*histSubBuckets are counted exactly; above that,
// each power of two is split into histSubBuckets equal buckets, so any
// recorded value is known to within 1/histSubBuckets (under 0.8 %) of
// itself. Recording is O(1) and allocation-free; a Histogram is not safe
// for concurrent use (each load worker keeps its own and they are merged).
type Histogram struct {
	counts []uint64
	total  uint64
	min    int64
	max    int64
	sum    float64
}

// histSubBucketBits sets the precision: 2^7 = 128 buckets per power of two.
const (
	histSubBucketBits = 7
	histSubBuckets    = 1 << histSubBucketBits
	// histExact is the first value that is not counted exactly.
	histExact = 2 * histSubBuckets
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{min: math.MaxInt64}
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (histSubBucketBits + 1)
	top := v >> uint(shift) // in [histSubBuckets, 2*histSubBuckets)
	return histExact + (shift-1)*histSubBuckets + int(top-histSubBuckets)
}

// bucketRange returns the smallest and largest value counted in bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < histExact {
		return int64(i), int64(i)
	}
	j := i - histExact
	shift := j/histSubBuckets + 1
	top := int64(j%histSubBuckets + histSubBuckets)
	lo = top << uint(shift)
	hi = (top+1)<<uint(shift) - 1
	return lo, hi
}

// Record counts one value in microseconds (negative values count as 0).
func (h *Histogram) Record(us int64) {
	if us < 0 {
		us = 0
	}
	i := bucketOf(us)
	if i >= len(h.counts) {
		n := make([]uint64, i+1+histSubBuckets)
		copy(n, h.counts)
		h.counts = n
	}
	h.counts[i]++
	h.total++
	h.sum += float64(us)
	if us < h.min {
		h.min = us
	}
	if us > h.max {
		h.max = us
	}
}

// RecordDuration counts one duration.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(d.Microseconds()) }

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		n := make([]uint64, len(o.counts))
		copy(n, h.counts)
		h.counts = n
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest recorded value (0 when empty).
func (h *Histogram) Max() int64 {
	if h.total == 0 {
		return 0
	}
	return h.max
}

// Min is the smallest recorded value (0 when empty).
func (h *Histogram) Min() int64 {
	if h.total == 0 {
		return 0
	}
	return h.min
}

// Mean is the average recorded value (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Percentile returns the value at or below which p percent (0 < p <= 100)
// of the recorded values lie, by the nearest-rank definition: the value of
// rank ceil(p/100 * count). Inside a bucket it answers the bucket's highest
// value (never above Max), so it never under-reports. 0 when empty.
func (h *Histogram) Percentile(p float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.total)))
	rank = max(rank, 1)
	rank = min(rank, h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}
