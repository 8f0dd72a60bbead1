# The bucket for training data and MLflow artifacts: versioned, KMS-encrypted, private, TLS only.

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second log bucket; CloudTrail data events are the audit trail when needed.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; the data is reproducible from the repo and MLflow runs.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; the trainer is started by Kubernetes, not by S3.
  bucket_prefix = "${var.prefix}-data-"
  force_destroy = var.bucket_force_destroy
}

resource "aws_s3_bucket_ownership_controls" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket = aws_s3_bucket.data.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id

  rule {
    id     = "tidy"
    status = "Enabled"
    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    noncurrent_version_expiration {
      noncurrent_days = 90
    }
  }

  depends_on = [aws_s3_bucket_versioning.data]
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.data.arn,
      "${aws_s3_bucket.data.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  bucket = aws_s3_bucket.data.id
  policy = data.aws_iam_policy_document.tls_only.json

  # The public access block must exist first, or the policy briefly applies without it.
  depends_on = [aws_s3_bucket_public_access_block.data]
}

resource "aws_s3_object" "airline" {
  bucket       = aws_s3_bucket.data.id
  key          = var.data_key
  source       = "${path.module}/../services/data/airline.csv"
  source_hash  = filemd5("${path.module}/../services/data/airline.csv")
  content_type = "text/csv"

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.data]
}
