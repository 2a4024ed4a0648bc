// Package wordcount counts words. The loop body of Count is missing: complete it with
//
//	dglsp complete examples/wordcount.go:16:3
package wordcount

import (
	"sort"
	"strings"
)

// Count returns how often each lower-cased word occurs in text.
func Count(text string) map[string]int {
	counts := make(map[string]int)
	for _, word := range strings.Fields(text) {
		word = strings.ToLower(strings.Trim(word, ".,;:!?\"'()"))
		
	}
	return counts
}

// Top returns the n most frequent words, most frequent first.
func Top(counts map[string]int, n int) []string {
	words := make([]string, 0, len(counts))
	for word := range counts {
		words = append(words, word)
	}
	sort.Slice(words, func(i, j int) bool { return counts[words[i]] > counts[words[j]] })
	if len(words) > n {
		words = words[:n]
	}
	return words
}
