module tweetpipe.local/pause

go 1.22
