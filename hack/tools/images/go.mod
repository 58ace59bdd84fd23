module fragrance.ai/tools/images

go 1.24.0
