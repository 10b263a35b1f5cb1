package identity

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// ImportOptions tunes Graph.Import. Zero values mean the defaults.
type ImportOptions struct {
	// BatchSize is how many records one write carries. Default 5,000.
	BatchSize int
	// Workers parse lines in parallel. Default GOMAXPROCS.
	Workers int
	// MaxLineBytes is the longest accepted line. Default 1 MiB.
	MaxLineBytes int
	// Progress, when set, is called after each batch with the lines and
	// bytes read so far. It runs on the import's goroutine.
	Progress func(lines, bytes int64)
	// Upsert, when set, is handed each batch instead of the graph's
	// Upsert: a cluster routes the records to the owners of their shards
	// (see RecordShards). The batches come in line order, each as Upsert
	// would store it: only the last record of each person id in the batch,
	// in line order (an earlier record of the person in the same batch
	// has no effect, not even on the identifiers it names). Upserting to
	// one graph the records routed to it, in the order received, one
	// Upsert a batch, gives each shard the answers a single graph would
	// (see RecordShards for the persons that leave a shard).
	//
	// It runs on the import's goroutine, one batch at a time, and owns
	// recs. It must return only once the records are durable wherever it
	// stored them (a shard owner calls Graph.Upsert, then Graph.Sync,
	// before it acknowledges); its error stops the import. The lines of a
	// batch count as imported when it returns nil.
	Upsert func(recs []Record) error
}

func (o *ImportOptions) withDefaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 1 << 20
	}
}

// ErrImportRead is returned when the import body cannot be read (the
// client's fault: a broken upload), as opposed to a storage failure.
var ErrImportRead = errors.New("cannot read the import body")

// MaxImportErrors is how many line errors an import reports (it goes on
// counting rejected lines after that).
const MaxImportErrors = 100

// ImportResult is the report of an import.
type ImportResult struct {
	Imported int           `json:"imported"`
	Rejected int           `json:"rejected"`
	Errors   []ImportError `json:"errors"`
}

// ImportError names a rejected line (1-based) and why.
type ImportError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// chunk is a run of consecutive lines, parsed by a worker.
type chunk struct {
	seq     int      // position among chunks
	first   int      // line number of lines[0]
	lines   [][]byte // raw lines (nil entries: blank lines)
	tooLong []int    // indexes of lines over the limit
	bytes   int64

	recs []Record
	enc  [][]byte // stored form of recs[i]
	errs []ImportError
}

const chunkLines = 512

// Import streams NDJSON import lines from r into the graph: lines are read
// without buffering the body, parsed in parallel, and upserted in batches
// in line order (a later line for the same person wins). A bad line is
// reported and skipped; good lines around it are imported. Blank lines are
// skipped. When Import returns, every imported record is durable. A
// reader error or ctx ending stops the import; what was imported before
// stays (an import is a sequence of upserts, so re-running it is safe).
//
// With ImportOptions.Upsert set, the batches go to it instead, and Import
// writes nothing to g (see ImportOptions.Upsert).
func (g *Graph) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportResult, error) {
	opts.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	work := make(chan *chunk, opts.Workers*2)
	parsed := make(chan *chunk, opts.Workers*2)
	var readErr error
	var wg sync.WaitGroup

	wg.Add(1)
	go func() { // the reader: splits the body into chunks of lines
		defer wg.Done()
		defer close(work)
		readErr = readChunks(ctx, r, opts.MaxLineBytes, work)
	}()
	var workers sync.WaitGroup
	for range opts.Workers {
		workers.Add(1)
		go func() { // a parser
			defer workers.Done()
			for c := range work {
				parseChunk(c, opts.MaxLineBytes)
				select {
				case parsed <- c:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { workers.Wait(); close(parsed) }()

	// This goroutine puts chunks back in order and writes them in batches.
	var (
		res     = ImportResult{Errors: []ImportError{}}
		pending = map[int]*chunk{}
		next    int
		batch   []Record
		enc     [][]byte
		lines   int64
		nbytes  int64
		err     error
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var err error
		if opts.Upsert != nil {
			err = opts.Upsert(latest(batch)) // a copy: batch is reused
		} else {
			err = g.upsert(batch, enc)
		}
		if err != nil {
			return err
		}
		res.Imported += len(batch)
		batch, enc = batch[:0], enc[:0]
		if opts.Progress != nil {
			opts.Progress(lines, nbytes)
		}
		return nil
	}
	for c := range parsed {
		if err != nil {
			continue // drain so the parsers can exit
		}
		pending[c.seq] = c
		for c := pending[next]; c != nil; c = pending[next] {
			delete(pending, next)
			next++
			lines += int64(len(c.lines))
			nbytes += c.bytes
			res.Rejected += len(c.errs)
			for _, e := range c.errs {
				if len(res.Errors) < MaxImportErrors {
					res.Errors = append(res.Errors, e)
				}
			}
			batch = append(batch, c.recs...)
			enc = append(enc, c.enc...)
			if len(batch) >= opts.BatchSize {
				if err = flush(); err != nil {
					cancel()
					break
				}
			}
		}
	}
	wg.Wait()
	if err == nil {
		err = flush()
	}
	if err == nil && opts.Upsert == nil {
		err = g.Sync()
	}
	if err == nil && readErr != nil {
		err = readErr
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return res, fmt.Errorf("identity: import: %w", err)
	}
	return res, nil
}

// readChunks reads r line by line into chunks and sends them on work.
func readChunks(ctx context.Context, r io.Reader, maxLine int, work chan<- *chunk) error {
	br := bufio.NewReaderSize(r, 256<<10)
	line, seq := 1, 0
	c := &chunk{seq: seq, first: line}
	send := func() bool {
		select {
		case work <- c:
		case <-ctx.Done():
			return false
		}
		seq++
		c = &chunk{seq: seq, first: line}
		return true
	}
	for {
		raw, err := br.ReadSlice('\n')
		long := false
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: read on to its end.
			buf := append([]byte(nil), raw...)
			for errors.Is(err, bufio.ErrBufferFull) {
				raw, err = br.ReadSlice('\n')
				if len(buf) <= maxLine {
					buf = append(buf, raw...)
				}
			}
			raw = buf
			long = len(bytes.TrimRight(buf, "\r\n")) > maxLine
		}
		if len(raw) > 0 {
			c.bytes += int64(len(raw))
			if long || len(bytes.TrimRight(raw, "\r\n")) > maxLine {
				c.tooLong = append(c.tooLong, len(c.lines))
				c.lines = append(c.lines, nil)
			} else {
				c.lines = append(c.lines, append([]byte(nil), bytes.TrimRight(raw, "\r\n")...))
			}
			line++
			if len(c.lines) == chunkLines && !send() {
				return ctx.Err()
			}
		}
		if err == io.EOF {
			if len(c.lines) > 0 && !send() {
				return ctx.Err()
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrImportRead, line, err)
		}
	}
}

// parseChunk parses the lines of c into records and line errors.
func parseChunk(c *chunk, maxLine int) {
	c.recs = make([]Record, 0, len(c.lines))
	long := 0
	for i, raw := range c.lines {
		n := c.first + i
		if long < len(c.tooLong) && c.tooLong[long] == i {
			long++
			c.errs = append(c.errs, ImportError{Line: n, Error: fmt.Sprintf("line is longer than %d bytes", maxLine)})
			continue
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		rec, err := ParseRecord(raw)
		var v []byte
		if err == nil {
			v, err = appendRecord(nil, &rec)
		}
		if err != nil {
			c.errs = append(c.errs, ImportError{Line: n, Error: err.Error()})
			continue
		}
		c.recs = append(c.recs, rec)
		c.enc = append(c.enc, v)
	}
	c.lines = nil
}

// latest returns, in a new slice, the records of recs that an upsert of
// recs stores: the last record of each person id, in the order of recs.
func latest(recs []Record) []Record {
	last := make(map[string]int, len(recs))
	for i := range recs {
		last[recs[i].PersonID] = i
	}
	out := make([]Record, 0, len(last))
	for i := range recs {
		if last[recs[i].PersonID] == i {
			out = append(out, recs[i])
		}
	}
	return out
}
