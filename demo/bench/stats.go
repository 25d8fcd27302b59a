package bench

import (
	"math"
	"slices"
)

// Dist summarises samples in milliseconds.
type Dist struct {
	N      int     `json:"n"`
	Median float64 `json:"median_ms"`
	P95    float64 `json:"p95_ms"`
	Mean   float64 `json:"mean_ms"`
	Min    float64 `json:"min_ms"`
	Max    float64 `json:"max_ms"`
}

// Summarise returns the distribution of samples; p95 is the nearest rank.
func Summarise(samples []float64) Dist {
	if len(samples) == 0 {
		return Dist{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	median := s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	rank := int(math.Ceil(0.95*float64(len(s)))) - 1
	return Dist{N: len(s), Median: median, P95: s[max(rank, 0)], Mean: sum / float64(len(s)), Min: s[0], Max: s[len(s)-1]}
}
