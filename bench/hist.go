package bench

import (
	"math"
	"math/bits"
	"sync"
	"time"
)

// Histogram is a latency histogram in the manner of HdrHistogram: values
// (microseconds) are counted in log-linear buckets with 3 significant
// digits, so any percentile is within 0.1 % of the exact one, whatever the
// number of values and in constant memory (~220 KiB). Values below 2,048 µs
// are counted exactly; a value above the largest trackable one (2^36 µs,
// about 19 hours) is counted as that. Min, max and the mean are exact.
//
// It is safe for concurrent use. The zero value is not usable: call
// NewHistogram.
//
// (A 60-line implementation instead of github.com/HdrHistogram/hdrhistogram-go
// keeps go.mod untouched; the algorithm is the same: 2,048 sub-buckets a
// power of two.)
type Histogram struct {
	mu       sync.Mutex
	counts   []int64
	total    int64
	sum      float64 // µs
	min, max int64   // µs
}

const (
	subBucketBits  = 11 // 2,048 sub-buckets: 3 significant decimal digits
	subBucketCount = 1 << subBucketBits
	subBucketHalf  = subBucketCount / 2
	maxValueBits   = 36 // the largest trackable value is 2^36-1 µs
	// histBuckets: the exact first 2,048, then 1,024 for each further
	// power of two up to maxValueBits.
	histBuckets = subBucketCount + (maxValueBits-subBucketBits)*subBucketHalf
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]int64, histBuckets), min: math.MaxInt64}
}

// bucketOf returns the index of the bucket of v (v ≥ 0, < 2^maxValueBits).
func bucketOf(v int64) int {
	if v < subBucketCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBucketBits // v>>shift is in [1024, 2048)
	return subBucketCount + (shift-1)*subBucketHalf + int(v>>shift) - subBucketHalf
}

// highestOf returns the largest value counted in bucket i.
func highestOf(i int) int64 {
	if i < subBucketCount {
		return int64(i)
	}
	shift := (i-subBucketCount)/subBucketHalf + 1
	sub := int64((i-subBucketCount)%subBucketHalf + subBucketHalf)
	return (sub+1)<<shift - 1
}

// Record counts one latency. Negative latencies (clock steps) count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(d.Microseconds(), 0)
	v = min(v, 1<<maxValueBits-1)
	h.mu.Lock()
	h.counts[bucketOf(v)]++
	h.total++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
	h.mu.Unlock()
}

// Merge adds the values of o to h.
func (h *Histogram) Merge(o *Histogram) {
	o.mu.Lock()
	counts := append([]int64(nil), o.counts...)
	total, sum, lo, hi := o.total, o.sum, o.min, o.max
	o.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range counts {
		h.counts[i] += c
	}
	h.total += total
	h.sum += sum
	h.min = min(h.min, lo)
	h.max = max(h.max, hi)
}

// Count is the number of values recorded.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// Quantile returns the value at quantile q (0 to 1): the highest value
// equivalent to the one of rank ceil(q × count), as HdrHistogram does,
// but never above the exact max. 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quantile(q)
}

func (h *Histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(highestOf(i), h.max)) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
}

// Summary returns the count, mean, max and the usual percentiles.
func (h *Histogram) Summary() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total == 0 {
		return Latency{}
	}
	return Latency{
		Count:  h.total,
		MeanMS: h.sum / float64(h.total) / 1e3,
		P50MS:  ms(h.quantile(0.50)),
		P90MS:  ms(h.quantile(0.90)),
		P99MS:  ms(h.quantile(0.99)),
		P999MS: ms(h.quantile(0.999)),
		MaxMS:  float64(h.max) / 1e3,
	}
}

// Latency is the summary of a histogram, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p99_9_ms"`
	MaxMS  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
