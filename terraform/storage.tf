# The bucket for training data (data/) and MLflow artifacts (artifacts/): versioned, encrypted,
# private, TLS only.

resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second log bucket; CloudTrail data events are the audit trail when needed.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; the data is reproducible from the repo and MLflow runs.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) as in the Pulumi stack: who may read is decided by IAM and the bucket policy, and a customer-managed key would add key policies to every IRSA role for no extra protection here.
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
      sse_algorithm = "AES256"
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
  key          = local.data_key
  source       = local.data_file
  source_hash  = filemd5(local.data_file)
  content_type = "text/csv"

  server_side_encryption = "AES256"

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.data]
}
