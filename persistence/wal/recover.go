package wal

import (
	"fmt"
	"os"
	"path/filepath"
)

// recover reads every segment, repairs the damaged ones, fills in l.segs
// and l.damage, and returns the sequence the next record gets.
func (l *Log) recover() (uint64, error) {
	segs, err := listSegments(l.cfg.Dir)
	if err != nil {
		return 0, err
	}
	// A crash during a repair leaves its temporary file; the segment it
	// was made from is still whole and is repaired again below.
	stale, _ := filepath.Glob(filepath.Join(l.cfg.Dir, "*"+segSuffix+".repair"))
	for _, f := range stale {
		_ = os.Remove(f)
	}
	var prev uint64
	kept := segs[:0]
	for _, seg := range segs {
		sc, raw, err := scanSegment(seg, prev, l.cfg.MaxRecord)
		if err != nil {
			return 0, err
		}
		l.damage = append(l.damage, sc.damage...)
		if len(sc.frames) == 0 && (len(sc.damage) > 0 || sc.size < headerSize) {
			// Nothing intact in it: a segment whose creation a crash cut
			// short, or one wholly unreadable.
			if err := os.Remove(seg.path); err != nil {
				return 0, fmt.Errorf("remove damaged segment: %w", err)
			}
			if err := syncDir(l.cfg.Dir); err != nil {
				return 0, err
			}
			continue
		}
		if len(sc.damage) > 0 {
			if sc, err = rewrite(seg, sc, raw, l.cfg.SyncFile); err != nil {
				return 0, err
			}
		}
		info, err := os.Stat(seg.path)
		if err != nil {
			return 0, fmt.Errorf("stat segment: %w", err)
		}
		seg.modTime = info.ModTime()
		seg.size, seg.durable = info.Size(), info.Size()
		seg.last = seg.first - 1
		if n := len(sc.frames); n > 0 {
			seg.last = sc.frames[n-1].seq
		}
		seg.records = len(sc.frames)
		for i := 0; i < len(sc.frames); i += sparseEvery {
			seg.sparse = append(seg.sparse, sc.frames[i])
		}
		prev = max(prev, sc.lastSeq)
		kept = append(kept, seg)
	}
	l.segs = kept
	if len(kept) == 0 && prev == 0 && l.cfg.FirstSeq > 1 {
		prev = l.cfg.FirstSeq - 1
	}
	l.lastSeq.Store(prev)
	next := prev + 1
	// Records lost after the last intact one may have been answered (a
	// byte changed on disk, not a torn write): their sequences must never
	// name another record, so skip as many as the lost bytes could hold.
	for _, d := range l.damage {
		if d.Before == 0 && d.After == prev {
			next += uint64(d.Bytes/(frameSize+1)) + 1
		}
	}
	return next, nil
}

// rewrite replaces a damaged segment's file with its intact frames only
// (temporary file, fdatasync, rename, directory sync) and returns the
// scan of the new file.
func rewrite(seg *segment, sc scanned, raw []byte, syncFile func(*os.File) error) (scanned, error) {
	out := appendHeader(make([]byte, 0, len(raw)), seg.first)
	fixed := scanned{lastSeq: sc.lastSeq}
	for i, f := range sc.frames {
		fixed.frames = append(fixed.frames, mark{seq: f.seq, off: int64(len(out))})
		out = append(out, raw[f.off:sc.ends[i]]...)
		fixed.ends = append(fixed.ends, int64(len(out)))
	}
	tmp := seg.path + ".repair"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return scanned{}, fmt.Errorf("repair segment: %w", err)
	}
	_, err = f.Write(out)
	if err == nil {
		err = syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, seg.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return scanned{}, fmt.Errorf("repair segment %s: %w", filepath.Base(seg.path), err)
	}
	if err := syncDir(filepath.Dir(seg.path)); err != nil {
		return scanned{}, err
	}
	fixed.size = int64(len(out))
	return fixed, nil
}
