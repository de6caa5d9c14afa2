package queue

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// DepthCollector reports the depth of every queue when scraped, read with
// the asynq Inspector:
//
//	scimbridge_queue_tasks{queue,state}      state: pending, active, scheduled, retry, archived
//	scimbridge_queue_latency_seconds{queue}  age of the oldest pending task
//	scimbridge_queue_scrape_error            1 when the last reading failed
//
// One reading is served again for CacheFor, so frequent scrapes do not
// load Redis.
type DepthCollector struct {
	Inspector *asynq.Inspector
	// Shards is the number of queues of each sharded class (Queues); every
	// one is reported, zero when it was never written.
	Shards int
	// CacheFor is how long one reading is served again (default 5 s).
	CacheFor time.Duration

	mu       sync.Mutex
	readAt   time.Time
	readings []*asynq.QueueInfo
}

var (
	queueTasksDesc = prometheus.NewDesc("scimbridge_queue_tasks",
		"Tasks in each asynq queue by state.", []string{"queue", "state"}, nil)
	queueLatencyDesc = prometheus.NewDesc("scimbridge_queue_latency_seconds",
		"Age of the oldest pending task of each queue.", []string{"queue"}, nil)
	queueErrDesc = prometheus.NewDesc("scimbridge_queue_scrape_error",
		"1 when the last reading of the queues failed (Redis unreachable).", nil, nil)
)

// Describe implements prometheus.Collector.
func (d *DepthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueTasksDesc
	ch <- queueLatencyDesc
	ch <- queueErrDesc
}

// Collect implements prometheus.Collector.
func (d *DepthCollector) Collect(ch chan<- prometheus.Metric) {
	infos, err := d.read()
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(queueErrDesc, prometheus.GaugeValue, failed)
	for _, q := range infos {
		for _, s := range []struct {
			state string
			n     int
		}{{"pending", q.Pending}, {"active", q.Active}, {"scheduled", q.Scheduled}, {"retry", q.Retry}, {"archived", q.Archived}} {
			ch <- prometheus.MustNewConstMetric(queueTasksDesc, prometheus.GaugeValue, float64(s.n), q.Queue, s.state)
		}
		ch <- prometheus.MustNewConstMetric(queueLatencyDesc, prometheus.GaugeValue, q.Latency.Seconds(), q.Queue)
	}
}

// read returns the cached reading or takes a new one: every queue
// scimbridge uses (zero when it was never written) and any other queue
// present in Redis.
func (d *DepthCollector) read() ([]*asynq.QueueInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cacheFor := d.CacheFor
	if cacheFor <= 0 {
		cacheFor = 5 * time.Second
	}
	if !d.readAt.IsZero() && time.Since(d.readAt) < cacheFor {
		return d.readings, nil
	}
	present, err := d.Inspector.Queues()
	if err != nil {
		return nil, err
	}
	ours := Queues(d.Shards)
	names := make([]string, 0, len(ours)+len(present))
	for q := range ours {
		names = append(names, q)
	}
	for _, q := range present {
		if _, ok := ours[q]; !ok {
			names = append(names, q)
		}
	}
	sort.Strings(names)
	infos := make([]*asynq.QueueInfo, 0, len(names))
	for _, q := range names {
		if !slices.Contains(present, q) {
			infos = append(infos, &asynq.QueueInfo{Queue: q})
			continue
		}
		info, err := d.Inspector.GetQueueInfo(q)
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	d.readings, d.readAt = infos, time.Now()
	return infos, nil
}
