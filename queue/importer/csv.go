package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseCSV reads a contact list with a header row. The separator (',' or
// ';', the latter common in Latin American spreadsheets) is taken from the
// header line; a UTF-8 byte-order mark is skipped.
func ParseCSV(r io.Reader, opt Options) (Result, error) {
	cr, header, err := openCSV(r)
	if err != nil {
		return Result{}, err
	}
	cols, err := columnsOf(header, cr.Comma)
	if err != nil {
		return Result{}, err
	}
	l := newLoader(opt)
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if err := openQuote(err, row); err != nil {
				return Result{}, err
			}
			rerr, ok := cols.readError(err, row, rec)
			if !ok {
				return l.res, fmt.Errorf("csv: row %d: %w", row, err)
			}
			l.refuse(rerr)
			continue
		}
		if rerr := cols.multiline(cr, row, rec); rerr != nil {
			l.refuse(*rerr)
			continue
		}
		l.add(cols.record(row, rec))
	}
	return l.res, nil
}

// openCSV skips a byte-order mark, picks the separator from the header
// line and reads the header.
func openCSV(r io.Reader) (*csv.Reader, []string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	line, err := br.Peek(4096)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, nil, fmt.Errorf("csv: read header: %w", err)
	}
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	cr := csv.NewReader(br)
	if bytes.Count(line, []byte(";")) > bytes.Count(line, []byte(",")) {
		cr.Comma = ';'
	}
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil, errors.New("csv: empty upload (no header row)")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("csv: header: %w", err)
	}
	cr.FieldsPerRecord = len(header)
	return cr, header, nil
}

// columns are what the header says each column holds.
type columns struct {
	names []string // field name by column ("" for a phone column)
	phone []bool
}

// columnsOf reads the header; it must have an account id and a phone column.
func columnsOf(header []string, comma rune) (columns, error) {
	c := columns{names: make([]string, len(header)), phone: make([]bool, len(header))}
	hasID, hasPhone := false, false
	for i, h := range header {
		c.names[i], c.phone[i] = canonical(h)
		hasID = hasID || c.names[i] == "account_id"
		hasPhone = hasPhone || c.phone[i]
	}
	if !hasID {
		return c, fmt.Errorf("csv: header %q has no account_id column", strings.Join(header, string(comma)))
	}
	if !hasPhone {
		return c, fmt.Errorf("csv: header %q has no phone column (phone, phone1..phone9)", strings.Join(header, string(comma)))
	}
	return c, nil
}

// openQuote refuses the upload when a quote opened on one line ran over
// line breaks: the rows after it are inside one field and cannot be told
// apart, so none of the file from there can be trusted. Loading the rows
// before it would leave the operator to find which ones are missing; the
// upload is refused instead (it is idempotent: fix the quote and send it
// again).
func openQuote(err error, row int) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) && errors.Is(err, csv.ErrQuote) && pe.Line > pe.StartLine {
		return fmt.Errorf("csv: line %d (row %d): a quoted field opened on this line is still open at line %d; "+
			"the rows from line %d on cannot be read: close the quote and upload again (nothing was loaded)",
			pe.StartLine, row, pe.Line, pe.StartLine)
	}
	return nil
}

// readError is the row's error for a row the CSV reader could not read
// (wrong column count, a stray quote); ok is false for any other error.
func (c columns) readError(err error, row int, rec []string) (rerr RowError, ok bool) {
	var pe *csv.ParseError
	if !errors.As(err, &pe) || !errors.Is(err, csv.ErrFieldCount) && !errors.Is(err, csv.ErrBareQuote) && !errors.Is(err, csv.ErrQuote) {
		return RowError{}, false
	}
	id := ""
	if len(rec) > 0 {
		id = accountIDOf(c.names, rec)
	}
	reason := fmt.Sprintf("line %d: %v", pe.StartLine, pe.Err)
	if errors.Is(err, csv.ErrFieldCount) {
		reason = fmt.Sprintf("line %d: has %d columns, the header has %d", pe.StartLine, len(rec), len(c.names))
	}
	return RowError{Row: row, AccountID: id, Reason: reason}, true
}

// multiline refuses a row with a quoted field holding a line break: legal
// CSV, but in a contact list it is nearly always a quote left open that
// swallowed the rows below it, so the lines it covers are named.
func (c columns) multiline(cr *csv.Reader, row int, rec []string) *RowError {
	first, last, col, spans := lineSpan(cr, rec)
	if !spans {
		return nil
	}
	field := "phone"
	if !c.phone[col] {
		field = c.names[col]
	}
	return &RowError{Row: row, AccountID: accountIDOf(c.names, rec), Field: field,
		Reason: fmt.Sprintf("lines %d-%d: a quoted field holds a line break (is a quote left open?); nothing on these lines was loaded", first, last)}
}

// record sorts a row's cells into phones, known fields and extra fields.
func (c columns) record(row int, rec []string) record {
	r := record{row: row, fields: map[string]string{}}
	for i, v := range rec {
		switch {
		case c.phone[i]:
			r.addPhones(strings.Split(v, "|")...)
		case known[c.names[i]]:
			r.fields[c.names[i]] = v
		case c.names[i] != "" && strings.TrimSpace(v) != "":
			r.setExtra(c.names[i], strings.TrimSpace(v))
		}
	}
	return r
}

func accountIDOf(names []string, rec []string) string {
	for i, n := range names {
		if n == "account_id" && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
	}
	return ""
}

// lineSpan says whether the record just read spans several lines, which
// ones, and the first column holding a line break.
func lineSpan(cr *csv.Reader, rec []string) (first, last, col int, spans bool) {
	first, _ = cr.FieldPos(0)
	last, col = first, -1
	for i, v := range rec {
		if n := strings.Count(v, "\n") + strings.Count(v, "\r") - strings.Count(v, "\r\n"); n > 0 {
			line, _ := cr.FieldPos(i)
			last = max(last, line+n)
			if col < 0 {
				col = i
			}
		}
	}
	return first, last, col, col >= 0
}
